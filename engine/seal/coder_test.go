package seal

import (
	"bytes"
	"errors"
	"testing"

	"keep/engine/internal/corpus"
)

// TestEncodedPath: what an agent encodes (a keyless Coder), the vault
// seals as it came (SealEncoded) and Open returns the plaintext; what
// OpenEncoded returns decodes to it again; the codec is the one Seal
// would choose.
func TestEncodedPath(t *testing.T) {
	agent, err := NewCoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	s := newSealer(t, testKey(1), Options{})
	for _, tt := range []struct {
		name  string
		data  []byte
		codec Codec
	}{
		{"empty", nil, CodecNone},
		{"text", corpus.Text(1, 1<<20), CodecZstd},
		{"random", corpus.Random(1, 256<<10), CodecNone},
		{"machine code", machineCode(t, 1<<20), CodecZstdX86},
	} {
		t.Run(tt.name, func(t *testing.T) {
			codec, payload := agent.Encode([]byte("pre"), tt.data)
			if codec != tt.codec || string(payload[:3]) != "pre" {
				t.Fatalf("Encode: codec %v (want %v), prefix %q", codec, tt.codec, payload[:3])
			}
			payload = payload[3:]
			if codec != CodecNone && len(payload) >= len(tt.data) {
				t.Fatalf("Encode chose %v for %d → %d bytes", codec, len(tt.data), len(payload))
			}
			blob, err := s.SealEncoded(nil, TypeChunk, idOf(1), codec, payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(blob) != len(payload)+Overhead || Codec(blob[0]&0x0f) != codec {
				t.Fatalf("SealEncoded: %d bytes, header %#x; want %d bytes, codec %v", len(blob), blob[0], len(payload)+Overhead, codec)
			}
			got, err := s.Open(nil, TypeChunk, idOf(1), blob, len(tt.data))
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("Open of the encoded seal: %v, equal %v", err, bytes.Equal(got, tt.data))
			}
			// The other way: a blob Seal wrote, opened without decoding.
			blob, err = s.Seal(nil, TypeChunk, idOf(2), tt.data)
			if err != nil {
				t.Fatal(err)
			}
			c2, enc, err := s.OpenEncoded([]byte("x"), TypeChunk, idOf(2), blob)
			if err != nil || c2 != codec || enc[0] != 'x' {
				t.Fatalf("OpenEncoded: codec %v (want %v), %v", c2, codec, err)
			}
			plain, err := agent.Decode([]byte("y"), c2, enc[1:], len(tt.data))
			if err != nil || plain[0] != 'y' || !bytes.Equal(plain[1:], tt.data) {
				t.Fatalf("Decode of OpenEncoded's payload: %v", err)
			}
			if len(tt.data) > 0 {
				if _, err := agent.Decode(nil, c2, enc[1:], len(tt.data)-1); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Decode under a limit one byte short: %v, want ErrTooLarge", err)
				}
			}
			// OpenEncoded authenticates as Open does.
			if _, _, err := s.OpenEncoded(nil, TypeChunk, idOf(3), blob); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenEncoded under another ID: %v", err)
			}
			blob[len(blob)/2] ^= 1
			if _, out, err := s.OpenEncoded([]byte("d"), TypeChunk, idOf(2), blob); !errors.Is(err, ErrCorrupt) || string(out) != "d" {
				t.Fatalf("OpenEncoded of a damaged blob: %v, dst %q", err, out)
			}
		})
	}
}

// TestDecodeRefuses: unknown codecs and damaged payloads are ErrCorrupt,
// and SealEncoded refuses a codec that does not exist.
func TestDecodeRefuses(t *testing.T) {
	c, err := NewCoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, z := c.Encode(nil, corpus.Text(2, 64<<10))
	for name, tc := range map[string]struct {
		codec   Codec
		payload []byte
	}{
		"unknown codec": {Codec(9), []byte("abc")},
		"not zstd":      {CodecZstd, []byte("plain text, not a zstd frame")},
		"truncated":     {CodecZstd, z[:len(z)/2]},
	} {
		if out, err := c.Decode([]byte("d"), tc.codec, tc.payload, 1<<20); !errors.Is(err, ErrCorrupt) || string(out) != "d" {
			t.Errorf("%s: %v, dst %q; want ErrCorrupt and dst unchanged", name, err, out)
		}
	}
	s := newSealer(t, testKey(1), Options{})
	if _, err := s.SealEncoded(nil, TypeChunk, idOf(1), Codec(9), []byte("abc")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("SealEncoded of codec 9: %v", err)
	}
	if _, err := s.SealEncoded(nil, 0, idOf(1), CodecNone, []byte("abc")); !errors.Is(err, ErrType) {
		t.Errorf("SealEncoded of type 0: %v", err)
	}
	if !Worth(CodecZstd, 96, 100) || Worth(CodecZstd, 98, 100) || !Worth(CodecNone, 100, 100) {
		t.Error("Worth: want zstd kept at 96 of 100 bytes, not at 98; none always")
	}
}

// TestDecodeKeepsCapacity: a blob decoded into a buffer with room to
// spare comes back in that buffer with all of its capacity, so a caller
// reusing it (a restore worker) decodes the next, larger blob in place.
// The decoder's limit is a slice capped at the blob's size; returning
// that slice cost a restore an allocation for most of its chunks.
func TestDecodeKeepsCapacity(t *testing.T) {
	c, err := NewCoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	small, large := corpus.Text(3, 256<<10), corpus.Text(4, 1<<20)
	buf := make([]byte, 0, 2<<20)
	for _, p := range [][]byte{small, large, machineCode(t, 512<<10)} {
		codec, enc := c.Encode(nil, p)
		if codec == CodecNone {
			t.Fatalf("%d bytes not compressed", len(p))
		}
		out, err := c.Decode(buf[:0], codec, enc, MaxSize)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("Decode (%v): %v, equal %v", codec, err, bytes.Equal(out, p))
		}
		if cap(out) != cap(buf) || &out[0] != &buf[:1][0] {
			t.Fatalf("Decode (%v) of %d bytes into a buffer of %d: capacity %d, same buffer %v", codec, len(p), cap(buf), cap(out), &out[0] == &buf[:1][0])
		}
		buf = out
	}
}

// FuzzDecode: a payload from the wire (an agent's PutBlob, a vault's
// reply) never panics the decoder, never yields more than the limit and
// fails only with ErrCorrupt or ErrTooLarge, dst unchanged.
func FuzzDecode(f *testing.F) {
	c, err := NewCoder(Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("abc"), 1000)} {
		codec, enc := c.Encode(nil, p)
		f.Add(uint8(codec), enc, uint16(4000))
	}
	f.Fuzz(func(t *testing.T, codec uint8, payload []byte, limit uint16) {
		out, err := c.Decode([]byte("dst"), Codec(codec), payload, int(limit))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if string(out) != "dst" {
				t.Fatalf("failed Decode changed dst to %q", out)
			}
			return
		}
		if len(out)-3 > int(limit) {
			t.Fatalf("Decode returned %d bytes, limit %d", len(out)-3, limit)
		}
	})
}

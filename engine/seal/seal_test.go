package seal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func newSealer(t testing.TB, key []byte, opts Options) *Sealer {
	t.Helper()
	s, err := New(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func idOf(b byte) fingerprint.ID { return fingerprint.ID{b, 1, 2, 3} }

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	tests := []struct {
		name  string
		data  []byte
		codec Codec
	}{
		{"empty", nil, CodecNone},
		{"tiny", []byte("hi"), CodecNone},
		{"short text", []byte(strings.Repeat("a", minCompressSize-1)), CodecNone},
		{"compressible", corpus.Text(1, 1<<20), CodecZstd},
		{"zeros", make([]byte, 4<<20), CodecZstd},
		{"random", corpus.Random(1, 1<<20), CodecNone},
		{"random 100", corpus.Random(2, 100), CodecNone},
		{"mixed mostly random", append(corpus.Random(3, 1<<20), make([]byte, 1<<10)...), CodecNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			blob, err := s.Seal(bytes.Clone(prefix), TypeChunk, idOf(1), tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(blob, prefix) {
				t.Fatal("Seal did not append to dst")
			}
			blob = blob[len(prefix):]
			if got := Codec(blob[0] & 0x0f); got != tt.codec {
				t.Errorf("codec %v, want %v", got, tt.codec)
			}
			if tt.codec == CodecNone && len(blob) != len(tt.data)+Overhead {
				t.Errorf("blob %d bytes, want %d", len(blob), len(tt.data)+Overhead)
			}
			got, err := s.Open([]byte("x"), TypeChunk, idOf(1), blob, len(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 'x' || !bytes.Equal(got[1:], tt.data) {
				t.Fatal("round trip changed the data")
			}
		})
	}
}

func TestNoCompressionOption(t *testing.T) {
	s := newSealer(t, testKey(1), Options{NoCompression: true})
	blob, err := s.Seal(nil, TypeMeta, idOf(1), make([]byte, 1<<16))
	if err != nil {
		t.Fatal(err)
	}
	if Codec(blob[0]&0x0f) != CodecNone {
		t.Fatal("NoCompression sealer compressed")
	}
}

func TestNonceIsFresh(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	a, _ := s.Seal(nil, TypeChunk, idOf(1), []byte("same"))
	b, _ := s.Seal(nil, TypeChunk, idOf(1), []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

// TestTamper flips every bit position class of the blob — header, nonce,
// ciphertext, tag — for both codecs; every change must fail with ErrCorrupt.
func TestTamper(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	for _, data := range [][]byte{corpus.Random(4, 200), corpus.Text(4, 300)} {
		blob, err := s.Seal(nil, TypeChunk, idOf(1), data)
		if err != nil {
			t.Fatal(err)
		}
		for i := range blob {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(blob)
				bad[i] ^= mask
				out, err := s.Open(nil, TypeChunk, idOf(1), bad, 1<<20)
				if !errors.Is(err, ErrCorrupt) || out != nil {
					t.Fatalf("%s byte %d ^ %#x: Open = %d bytes, %v; want ErrCorrupt", class(i, len(blob)), i, mask, len(out), err)
				}
			}
		}
		for n := range blob { // every truncation
			if _, err := s.Open(nil, TypeChunk, idOf(1), blob[:n], 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d: %v, want ErrCorrupt", n, err)
			}
		}
		if _, err := s.Open(nil, TypeChunk, idOf(1), append(bytes.Clone(blob), 0), 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("extended: %v, want ErrCorrupt", err)
		}
	}
}

func class(i, n int) string {
	switch {
	case i < headerLen:
		return "header"
	case i < headerLen+nonceSize:
		return "nonce"
	case i < n-tagSize:
		return "ciphertext"
	}
	return "tag"
}

func TestWrongBinding(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	other := newSealer(t, testKey(2), Options{})
	blob, err := s.Seal(nil, TypeChunk, idOf(1), corpus.Text(5, 10000))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    *Sealer
		t    Type
		id   fingerprint.ID
	}{
		{"wrong type", s, TypeMeta, idOf(1)},
		{"wrong id", s, TypeChunk, idOf(2)},
		{"wrong key", other, TypeChunk, idOf(1)},
	}
	for _, tt := range tests {
		if _, err := tt.s.Open(nil, tt.t, tt.id, blob, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open error = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

func TestLimit(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	for _, data := range [][]byte{make([]byte, 10<<20), corpus.Random(6, 1<<20)} {
		blob, err := s.Seal(nil, TypeChunk, idOf(1), data)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{-1, 0, len(data) / 10, len(data) - 1} {
			if out, err := s.Open(nil, TypeChunk, idOf(1), blob, limit); !errors.Is(err, ErrTooLarge) || out != nil {
				t.Errorf("%v, limit %d: Open = %d bytes, %v; want ErrTooLarge", Codec(blob[0]&15), limit, len(out), err)
			}
		}
		if _, err := s.Open(nil, TypeChunk, idOf(1), blob, len(data)); err != nil {
			t.Errorf("limit = size: %v", err)
		}
	}
}

func TestSealErrors(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	if _, err := s.Seal(nil, 0, idOf(1), []byte("x")); !errors.Is(err, ErrType) {
		t.Errorf("type 0: %v, want ErrType", err)
	}
	broken := newSealer(t, testKey(1), Options{Rand: iotest.ErrReader(errors.New("no entropy"))})
	if out, err := broken.Seal([]byte("keep"), TypeChunk, idOf(1), []byte("x")); err == nil || string(out) != "keep" {
		t.Errorf("failing rand: %q, %v; want error and dst unchanged", out, err)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := New(make([]byte, n), Options{}); !errors.Is(err, ErrKeySize) {
			t.Errorf("New(%d-byte key): %v, want ErrKeySize", n, err)
		}
	}
}

func TestSealerDoesNotPrintKey(t *testing.T) {
	s := newSealer(t, []byte("SECRETKEYSECRETKEYSECRETKEY12345"), Options{})
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, "SECRET") || strings.Contains(out, "83 69 67") {
			t.Errorf("%s of Sealer = %q", f, out)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{TypeChunk.String(), "chunk"}, {TypeMeta.String(), "meta"}, {Type(9).String(), "type(9)"},
		{CodecNone.String(), "none"}, {CodecZstd.String(), "zstd"}, {Codec(7).String(), "codec(7)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}

// TestWindowOption: a Sealer with a small window seals blobs larger than
// it, which any Sealer of the key opens; a bad window is refused.
func TestWindowOption(t *testing.T) {
	small := newSealer(t, testKey(1), Options{Window: 64 << 10})
	def := newSealer(t, testKey(1), Options{})
	plain := bytes.Repeat([]byte("a tree node, a name, a mode, some times; "), 20000) // ~800 KiB
	blob, err := small.Seal(nil, TypeMeta, idOf(1), plain)
	if err != nil {
		t.Fatal(err)
	}
	if Codec(blob[0]&0x0f) != CodecZstd || len(blob) >= len(plain)/10 {
		t.Fatalf("codec %v, %d bytes of %d", Codec(blob[0]&0x0f), len(blob), len(plain))
	}
	got, err := def.Open(nil, TypeMeta, idOf(1), blob, len(plain))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	if _, err := New(testKey(1), Options{Window: 1000}); err == nil {
		t.Fatal("a window that is not a power of two was accepted")
	}
}

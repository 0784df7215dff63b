package seal

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"

	"keep/engine/internal/corpus"
)

// machineCode returns up to n bytes of the test binary's .text section:
// real x86-64 code wherever the tests run.
func machineCode(t testing.TB, n int) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Fatalf("test binary is %v; the x86 filter tests need x86-64", f.Machine)
	}
	text := f.Section(".text")
	if text == nil {
		t.Fatal("test binary has no .text")
	}
	b, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < n {
		t.Fatalf(".text is %d bytes, want %d", len(b), n)
	}
	return b[:n]
}

func TestX86FilterRoundTrip(t *testing.T) {
	code := machineCode(t, 1<<20)
	for _, b := range [][]byte{code, corpus.Random(1, 1<<16), corpus.Text(2, 1<<16),
		bytes.Repeat([]byte{0xE8, 0, 0, 0, 0}, 100), bytes.Repeat([]byte{0xE9, 0xFF}, 1000),
		{0xE8, 1, 2, 3}, {0xE8, 0xE8, 0xE8, 0, 0, 0, 0xFF, 0xFF}} {
		f := bytes.Clone(b)
		x86Encode(f)
		x86Decode(f)
		if !bytes.Equal(f, b) {
			t.Fatalf("x86Decode(x86Encode(b)) != b for %d bytes starting %x", len(b), b[:min(8, len(b))])
		}
	}
	// The filter does change machine code (or it would gain nothing).
	f := bytes.Clone(code)
	x86Encode(f)
	if bytes.Equal(f, code) {
		t.Fatal("x86Encode left machine code unchanged")
	}
}

// TestX86Codec: machine code is sealed through the filter, stores smaller
// than plain zstd, and opens to the same bytes; text and random data are
// not taken for machine code.
func TestX86Codec(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	code := machineCode(t, 1<<20)
	blob, err := s.Seal(nil, TypeChunk, idOf(1), code)
	if err != nil {
		t.Fatal(err)
	}
	if c := Codec(blob[0] & 0x0f); c != CodecZstdX86 {
		t.Fatalf("machine code sealed with %v, want %v", c, CodecZstdX86)
	}
	plain := s.enc.EncodeAll(code, nil)
	if len(blob)-Overhead >= len(plain) {
		t.Errorf("filtered %d bytes, plain zstd %d: the filter gains nothing", len(blob)-Overhead, len(plain))
	}
	t.Logf("1 MiB of .text: zstd %d bytes, zstd+x86 %d (%.1f %% less)", len(plain), len(blob)-Overhead,
		100*(1-float64(len(blob)-Overhead)/float64(len(plain))))
	got, err := s.Open([]byte("dst"), TypeChunk, idOf(1), blob, len(code))
	if err != nil || !bytes.Equal(got[3:], code) || string(got[:3]) != "dst" {
		t.Fatalf("open: %v (equal %v)", err, err == nil && bytes.Equal(got[3:], code))
	}
	for name, b := range map[string][]byte{"text": corpus.Text(3, 1<<20), "random": corpus.Random(4, 1<<20),
		"zeros": make([]byte, 1<<20)} {
		if looksX86(b) {
			t.Errorf("%s taken for machine code", name)
		}
	}
	// A damaged x86 blob still fails authentication like any other.
	bad := bytes.Clone(blob)
	bad[len(bad)/2] ^= 1
	if _, err := s.Open(nil, TypeChunk, idOf(1), bad, len(code)); err == nil {
		t.Fatal("damaged x86 blob opened")
	}
}

// FuzzX86: the filter is undone exactly for any bytes.
func FuzzX86(f *testing.F) {
	f.Add([]byte{0xE8, 1, 2, 3, 0, 0xE9, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0xE8, 0x3D, 0xE9, 0x2F, 0xFE, 0xFF, 0xFF}) // overlapping opcodes
	f.Fuzz(func(t *testing.T, b []byte) {
		e := bytes.Clone(b)
		x86Encode(e)
		x86Decode(e)
		if !bytes.Equal(e, b) {
			t.Fatalf("round trip changed %x into %x", b, e)
		}
	})
}

func BenchmarkX86(b *testing.B) {
	code := machineCode(b, 1<<20)
	buf := bytes.Clone(code)
	b.Run("filter", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			x86Encode(buf)
		}
	})
	b.Run("detect", func(b *testing.B) {
		b.SetBytes(int64(len(code)))
		for b.Loop() {
			looksX86(code)
		}
	})
}

// TestEncodeWithScratch: EncodeWith filters machine code in the caller's
// scratch, not its plaintext, and encodes exactly as Encode does.
func TestEncodeWithScratch(t *testing.T) {
	c, err := NewCoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code := machineCode(t, 256<<10)
	orig := bytes.Clone(code)
	wantCodec, want := c.Encode(nil, code)
	var scratch []byte
	codec, got := c.EncodeWith([]byte("dst"), code, &scratch)
	if codec != CodecZstdX86 || wantCodec != codec || !bytes.Equal(got[3:], want) || string(got[:3]) != "dst" {
		t.Fatalf("EncodeWith: %v, %d bytes; Encode: %v, %d bytes", codec, len(got)-3, wantCodec, len(want))
	}
	if cap(scratch) < len(code) {
		t.Fatalf("scratch of %d bytes after filtering %d: not used", cap(scratch), len(code))
	}
	if !bytes.Equal(code, orig) {
		t.Fatal("the plaintext was filtered in place")
	}
}

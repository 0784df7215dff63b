package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestDeterministic(t *testing.T) {
	for name, gen := range map[string]func(uint64, int) []byte{"random": Random, "text": Text} {
		a, b, c := gen(1, 100_000), gen(1, 100_000), gen(2, 100_000)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: same seed gave different bytes", name)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%s: different seeds gave the same bytes", name)
		}
		if len(a) != 100_000 {
			t.Errorf("%s: len %d, want 100000", name, len(a))
		}
	}
}

func TestCompressibility(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	const n = 1 << 20
	tests := []struct {
		name     string
		data     []byte
		min, max float64
	}{
		{"text", Text(3, n), 2, 6},
		{"random", Random(3, n), 0.99, 1.01},
	}
	for _, tt := range tests {
		ratio := float64(n) / float64(len(enc.EncodeAll(tt.data, nil)))
		if ratio < tt.min || ratio > tt.max {
			t.Errorf("%s: zstd ratio %.2f, want in [%v, %v]", tt.name, ratio, tt.min, tt.max)
		}
		t.Logf("%s: zstd fastest ratio %.2f", tt.name, ratio)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"b": "world", "a": "hello ", "c/d": "!"} {
		p := dir + "/" + name
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[int]string{100: "hello world!", 8: "hello wo", 0: ""} {
		got, err := Files(dir, n)
		if err != nil || string(got) != want {
			t.Errorf("Files(%d) = %q, %v; want %q", n, got, err, want)
		}
	}
}

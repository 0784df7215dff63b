package chunker

import (
	"errors"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"file defaults", FileParams(), true},
		{"image defaults", ImageParams(), true},
		{"smallest", Params{Min: 64, Avg: 256, Max: 257}, true},
		{"min too small", Params{Min: 63, Avg: 256, Max: 1024}, false},
		{"avg too small", Params{Min: 64, Avg: 128, Max: 1024}, false},
		{"avg not power of two", Params{Min: 64, Avg: 3000, Max: 8192}, false},
		{"min equals avg", Params{Min: 4096, Avg: 4096, Max: 8192}, false},
		{"avg equals max", Params{Min: 1024, Avg: 4096, Max: 4096}, false},
		{"max too large", Params{Min: 1024, Avg: 4096, Max: MaxMax + 1}, false},
		{"negative", Params{Min: -1, Avg: 4096, Max: 8192}, false},
		{"zero", Params{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%v) = %v, want ok=%v", tt.p, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrParams) {
				t.Errorf("error %v does not wrap ErrParams", err)
			}
			if _, err := New(tt.p, Seed{}); (err == nil) != tt.ok {
				t.Errorf("New(%v) = %v, want ok=%v", tt.p, err, tt.ok)
			}
		})
	}
}

// TestWithParams: a Cutter derived with WithParams cuts exactly as one made
// with New from the same seed and those bounds.
func TestWithParams(t *testing.T) {
	var seed Seed
	seed[3] = 7
	file, err := New(FileParams(), seed)
	if err != nil {
		t.Fatal(err)
	}
	img, err := file.WithParams(ImageParams())
	if err != nil {
		t.Fatal(err)
	}
	direct, err := New(ImageParams(), seed)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9*13 + i>>13)
	}
	a, b := img.Boundaries(data), direct.Boundaries(data)
	if len(a) != len(b) || len(a) < 8 {
		t.Fatalf("%d vs %d chunks", len(a), len(b))
	}
	for i := range a {
		if a[i].Offset != b[i].Offset || a[i].Length != b[i].Length {
			t.Fatalf("chunk %d differs", i)
		}
	}
	if _, err := file.WithParams(Params{Min: 1, Avg: 2, Max: 3}); !errors.Is(err, ErrParams) {
		t.Fatalf("bad params accepted: %v", err)
	}
}

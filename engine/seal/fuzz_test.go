package seal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen: Open of arbitrary bytes never panics, fails with ErrCorrupt or
// ErrTooLarge, and leaves dst alone when it fails.
func FuzzOpen(f *testing.F) {
	s, err := New(testKey(1), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("abc"), 100)} {
		blob, _ := s.Seal(nil, TypeChunk, idOf(1), p)
		f.Add(blob, uint16(1000))
	}
	f.Fuzz(func(t *testing.T, blob []byte, limit uint16) {
		out, err := s.Open([]byte("dst"), TypeChunk, idOf(1), blob, int(limit))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if string(out) != "dst" {
				t.Fatalf("failed Open changed dst to %q", out)
			}
			return
		}
		if len(out)-3 > int(limit) {
			t.Fatalf("Open returned %d bytes, limit %d", len(out)-3, limit)
		}
	})
}

// FuzzRoundTrip: whatever is sealed opens to the same bytes.
func FuzzRoundTrip(f *testing.F) {
	s, err := New(testKey(2), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Add([]byte("x"), byte(1))
	f.Add(bytes.Repeat([]byte("zz"), 500), byte(2))
	f.Fuzz(func(t *testing.T, data []byte, typ byte) {
		if typ == 0 {
			return
		}
		blob, err := s.Seal(nil, Type(typ), idOf(typ), data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(nil, Type(typ), idOf(typ), blob, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

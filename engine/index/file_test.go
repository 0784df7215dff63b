package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/seal"
)

func newSealer(t testing.TB, b byte) *seal.Sealer {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{b}, seal.KeySize), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func sampleFile() *File {
	f := &File{}
	f.AddPack(packOf(1), packBlobs(0, 5, pack.Data))
	f.AddPack(packOf(2), packBlobs(5, 3, pack.Tree))
	return f
}

func TestFileRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	f := sampleFile()
	b, err := EncodeFile(s, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFile(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip:\n%+v\n%+v", got, f)
	}
}

func TestEncodeRejects(t *testing.T) {
	s := newSealer(t, 1)
	tests := []struct {
		name string
		edit func(*File)
	}{
		{"no blobs", func(f *File) { f.Blobs = nil }},
		{"more packs than blobs", func(f *File) { f.Packs = append(f.Packs, make([]pack.ID, 10)...) }},
		{"dangling pack", func(f *File) { f.Blobs[0].Pack = 9 }},
		{"type 0", func(f *File) { f.Blobs[0].Type = 0 }},
		{"short blob", func(f *File) { f.Blobs[0].Length = 3 }},
		{"past 4 GiB", func(f *File) { f.Blobs[0].Offset = 1<<32 - 10 }},
	}
	for _, tt := range tests {
		f := sampleFile()
		tt.edit(f)
		if _, err := EncodeFile(s, f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	s := newSealer(t, 1)
	good, _ := EncodeFile(s, sampleFile())
	plain := encodePlain(sampleFile())
	seal := func(p []byte) []byte {
		b, err := s.Seal([]byte(fileMagic), TypeFile, fingerprint.ID{}, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put32 := func(off int, v uint32) []byte {
		p := bytes.Clone(plain)
		binary.LittleEndian.PutUint32(p[off:], v)
		return seal(p)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic only", []byte(fileMagic)},
		{"wrong magic", append([]byte("KIX2"), good[4:]...)},
		{"truncated", good[:len(good)-1]},
		{"flipped", flipped},
		{"too large", make([]byte, MaxFileSize+1)},
		{"version 2", seal(append([]byte{2}, plain[1:]...))},
		{"short plaintext", seal(plain[:fileFixed-1])},
		{"zero blobs", put32(5, 0)},
		{"huge blob count", put32(5, 1<<31)},
		{"more packs than blobs", put32(1, 100)},
		{"size mismatch", seal(append(bytes.Clone(plain), 0))},
		{"dangling pack", put32(fileFixed+2*filePackSize+1+fingerprint.Size, 7)},
	}
	for _, tt := range tests {
		if f, err := DecodeFile(s, tt.b); !errors.Is(err, ErrCorrupt) || f != nil {
			t.Errorf("%s: %v, want ErrCorrupt", tt.name, err)
		}
	}
	if _, err := DecodeFile(newSealer(t, 2), good); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong key: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeFile: arbitrary files never panic and fail with ErrCorrupt.
func FuzzDecodeFile(f *testing.F) {
	s := newSealer(f, 1)
	good, _ := EncodeFile(s, sampleFile())
	f.Add(good)
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeFile(s, b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

// FuzzDecodePlain: arbitrary plaintexts (what a holder of the key could
// seal) never panic, allocate only what their size holds, and what is
// accepted re-encodes to the same bytes and loads into a Builder.
func FuzzDecodePlain(f *testing.F) {
	f.Add(encodePlain(sampleFile()))
	f.Add([]byte{1, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := decodePlain(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodePlain(file), b) {
			t.Fatal("accepted plaintext does not re-encode to itself")
		}
		if err := NewBuilder(0).AddFile(file); err != nil {
			t.Fatalf("accepted file does not load: %v", err)
		}
	})
}

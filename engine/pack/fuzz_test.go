package pack

import (
	"bytes"
	"errors"
	"testing"

	"keep/engine/internal/corpus"
)

// FuzzReadHeader: arbitrary files never panic, fail with ErrCorrupt, and a
// header that is accepted tiles the file.
func FuzzReadHeader(f *testing.F) {
	s := newSealer(f, 1)
	file, _, _ := build(f, s, []plainBlob{{Data, corpus.Random(1, 100)}, {Tree, []byte("tree")}})
	f.Add(file)
	f.Add(file[len(file)-trailerSize:])
	f.Add([]byte("KPK1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blobs, err := ReadHeader(bytes.NewReader(b), int64(len(b)), s)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if len(blobs) == 0 || blobs[len(blobs)-1].End() > uint64(len(b)) {
			t.Fatalf("accepted listing %v does not fit %d bytes", blobs, len(b))
		}
	})
}

// FuzzDecodeHeader: arbitrary plaintexts (what a holder of the key could
// seal) never panic and never allocate past what their size allows.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(encodeHeader([]Blob{{Type: Data, Length: 100, RawLength: 3}}), uint32(100))
	f.Add(encodeHeader([]Blob{{Type: Data, Length: 100}, {Type: Tree, Offset: 100, Length: 29}}), uint32(129))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff}, uint32(0))
	f.Add(encodeHeader([]Blob{{Type: Data, Length: 100 | Bundled}, {Type: Data, Length: 100 | Bundled},
		{Type: Data, Offset: 100, Length: 29}}), uint32(129))
	f.Fuzz(func(t *testing.T, plain []byte, region uint32) {
		blobs, err := decodeHeader(plain, uint64(region))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeHeader(blobs), plain) {
			t.Fatal("accepted header does not re-encode to itself")
		}
	})
}

package pack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
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

func idOf(i int) fingerprint.ID {
	var id fingerprint.ID
	binary.LittleEndian.PutUint64(id[:], uint64(i)+1)
	return id
}

type plainBlob struct {
	t    BlobType
	data []byte
}

// build writes a pack of the blobs sealed with s and returns its bytes,
// ID and listing.
func build(t testing.TB, s *seal.Sealer, blobs []plainBlob) ([]byte, ID, []Blob) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i, b := range blobs {
		sealed, err := s.Seal(nil, b.t, idOf(i), b.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(b.t, idOf(i), sealed, len(b.data)); err != nil {
			t.Fatal(err)
		}
	}
	id, err := w.Finish(s)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), id, w.Blobs()
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	tests := []struct {
		name  string
		blobs []plainBlob
	}{
		{"one empty", []plainBlob{{Data, nil}}},
		{"one tree", []plainBlob{{Tree, []byte(`{"tree":1}`)}}},
		{"mixed", []plainBlob{{Data, corpus.Random(1, 5000)}, {Tree, corpus.Text(2, 3000)}, {Data, corpus.Text(3, 70000)}}},
		{"many small", func() []plainBlob {
			var bs []plainBlob
			for i := range 1000 {
				bs = append(bs, plainBlob{Data, corpus.Random(uint64(i), i%97)})
			}
			return bs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, id, written := build(t, s, tt.blobs)
			if id != Sum(file) {
				t.Fatal("Finish's ID is not the hash of the file")
			}
			got, err := ReadHeader(bytes.NewReader(file), int64(len(file)), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.blobs) {
				t.Fatalf("%d blobs, want %d", len(got), len(tt.blobs))
			}
			for i, b := range got {
				if b != written[i] {
					t.Fatalf("blob %d: read %+v, wrote %+v", i, b, written[i])
				}
				if b.Type != tt.blobs[i].t || b.ID != idOf(i) || int(b.RawLength) != len(tt.blobs[i].data) {
					t.Fatalf("blob %d: %+v does not describe what was added", i, b)
				}
				plain, err := s.Open(nil, b.Type, b.ID, file[b.Offset:b.End()], int(b.RawLength))
				if err != nil || !bytes.Equal(plain, tt.blobs[i].data) {
					t.Fatalf("blob %d does not open at its listed place: %v", i, err)
				}
			}
		})
	}
}

func TestIDText(t *testing.T) {
	id := Sum([]byte("x"))
	back, err := ParseID(id.String())
	if err != nil || back != id || id.Short() != id.String()[:8] {
		t.Fatalf("ParseID(String) = %v, %v", back, err)
	}
	for _, bad := range []string{"", "ab", strings.Repeat("g", 64), id.String() + "0"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	s := newSealer(t, 1)
	sealed, _ := s.Seal(nil, Data, idOf(0), []byte("x"))
	tests := []struct {
		name   string
		t      BlobType
		sealed []byte
		raw    int
		want   error
	}{
		{"type 0", 0, sealed, 1, ErrBlob},
		{"type 3", 3, sealed, 1, ErrBlob},
		{"short blob", Data, sealed[:seal.Overhead-1], 1, ErrBlob},
		{"negative raw", Data, sealed, -1, ErrBlob},
		{"huge raw", Data, sealed, seal.MaxSize + 1, ErrBlob},
	}
	for _, tt := range tests {
		w := NewWriter(&bytes.Buffer{})
		if err := w.Add(tt.t, idOf(0), tt.sealed, tt.raw); !errors.Is(err, tt.want) {
			t.Errorf("%s: Add = %v, want %v", tt.name, err, tt.want)
		}
		if w.Len() != 0 || w.Size() != 0 {
			t.Errorf("%s: refused blob was counted", tt.name)
		}
	}
	if _, err := NewWriter(&bytes.Buffer{}).Finish(s); !errors.Is(err, ErrBlob) {
		t.Errorf("Finish of an empty pack = %v, want ErrBlob", err)
	}
	w := NewWriter(&bytes.Buffer{})
	for i := range MaxBlobs {
		if err := w.Add(Data, idOf(i), sealed, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(Data, idOf(0), sealed, 1); !errors.Is(err, ErrFull) {
		t.Errorf("blob %d: %v, want ErrFull", MaxBlobs+1, err)
	}
	w = NewWriter(&bytes.Buffer{})
	w.size = MaxBlobRegion - uint64(len(sealed)) + 1
	if err := w.Add(Data, idOf(0), sealed, 1); !errors.Is(err, ErrFull) {
		t.Errorf("past 4 GiB: %v, want ErrFull", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after--; f.after < 0 {
		return 0, errors.New("disk on fire")
	}
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	s := newSealer(t, 1)
	sealed, _ := s.Seal(nil, Data, idOf(0), []byte("x"))
	w := NewWriter(&failWriter{after: 1})
	if err := w.Add(Data, idOf(0), sealed, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Data, idOf(1), sealed, 1); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failing write: %v", err)
	}
	if err := w.Add(Data, idOf(2), sealed, 1); err == nil {
		t.Fatal("Add after a write error succeeded")
	}
	if _, err := w.Finish(s); err == nil {
		t.Fatal("Finish after a write error succeeded")
	}
	w = NewWriter(&bytes.Buffer{})
	_ = w.Add(Data, idOf(0), sealed, 1)
	if _, err := w.Finish(s); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Data, idOf(1), sealed, 1); err == nil {
		t.Fatal("Add after Finish succeeded")
	}
}

// TestDamage: every truncation, every flipped byte in the header and
// trailer, a wrong key and foreign files fail with ErrCorrupt.
func TestDamage(t *testing.T) {
	s := newSealer(t, 1)
	file, _, blobs := build(t, s, []plainBlob{{Data, corpus.Random(1, 300)}, {Tree, corpus.Text(1, 400)}})
	headerStart := int(blobs[len(blobs)-1].End())
	check := func(what string, b []byte, s *seal.Sealer) {
		t.Helper()
		if got, err := ReadHeader(bytes.NewReader(b), int64(len(b)), s); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Fatalf("%s: ReadHeader = %d blobs, %v; want ErrCorrupt", what, len(got), err)
		}
	}
	for n := range file {
		check("truncated", file[:n], s)
	}
	for i := headerStart; i < len(file); i++ {
		bad := bytes.Clone(file)
		bad[i] ^= 0x40
		check("flipped", bad, s)
	}
	check("extended", append(bytes.Clone(file), 0), s)
	check("prepended", append([]byte{0}, file...), s)
	check("wrong key", file, newSealer(t, 2))
	check("zeros", make([]byte, 4096), s)
	huge := append(make([]byte, 64), 0xff, 0xff, 0xff, 0x7f, 'K', 'P', 'K', '1')
	check("huge header length", huge, s)
}

// sealHeader builds a pack whose header plaintext is plain, over a blob
// region of region bytes, as a writer holding the key could.
func sealHeader(t testing.TB, s *seal.Sealer, region int, plain []byte) []byte {
	t.Helper()
	file := make([]byte, region)
	sealed, err := s.Seal(nil, TypeHeader, fingerprint.ID{}, plain)
	if err != nil {
		t.Fatal(err)
	}
	file = append(file, sealed...)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(sealed)))
	return append(file, magic...)
}

// TestHeaderRules: authentic headers that break a rule of the listing.
func TestHeaderRules(t *testing.T) {
	s := newSealer(t, 1)
	ok := Blob{Type: Data, ID: idOf(0), Offset: 0, Length: 100, RawLength: 10}
	second := Blob{Type: Tree, ID: idOf(1), Offset: 100, Length: 50, RawLength: 10}
	tests := []struct {
		name   string
		region int
		plain  []byte
	}{
		{"empty plaintext", 0, nil},
		{"version 2", 100, append([]byte{2}, encodeHeader([]Blob{ok})[1:]...)},
		{"no blobs", 0, encodeHeader(nil)},
		{"count too large", 100, binary.LittleEndian.AppendUint32([]byte{1}, MaxBlobs+1)},
		{"count/size mismatch", 100, encodeHeader([]Blob{ok})[:headerFixed+entrySize-1]},
		{"trailing entry bytes", 100, append(encodeHeader([]Blob{ok}), 0)},
		{"type 0", 100, encodeHeader([]Blob{{ID: ok.ID, Length: 100}})},
		{"gap", 200, encodeHeader([]Blob{ok, {Type: Data, Offset: 150, Length: 50}})},
		{"overlap", 140, encodeHeader([]Blob{ok, {Type: Data, Offset: 90, Length: 50}})},
		{"short region", 149, encodeHeader([]Blob{ok, second})},
		{"long region", 151, encodeHeader([]Blob{ok, second})},
		{"blob under overhead", 10, encodeHeader([]Blob{{Type: Data, Length: 10}})},
		{"huge raw length", 100, encodeHeader([]Blob{{Type: Data, Length: 100, RawLength: seal.MaxSize + 1}})},
	}
	for _, tt := range tests {
		file := sealHeader(t, s, tt.region, tt.plain)
		if _, err := ReadHeader(bytes.NewReader(file), int64(len(file)), s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tt.name, err)
		}
	}
	file := sealHeader(t, s, 150, encodeHeader([]Blob{ok, second}))
	if got, err := ReadHeader(bytes.NewReader(file), int64(len(file)), s); err != nil || len(got) != 2 {
		t.Errorf("valid hand-built header: %v", err)
	}
}

package pack

import (
	"bytes"
	"errors"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
	"keep/engine/seal"
)

func TestBundleRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	var b Bundler
	var want [][]byte
	for i := range 50 {
		d := corpus.Text(uint64(i), 100+i*37)
		if i == 7 {
			d = nil // an empty blob is a member too
		}
		b.Add(idOf(i), d)
		want = append(want, d)
	}
	plain := b.Plaintext()
	if got := b.Plaintext(); !bytes.Equal(got, plain) {
		t.Fatal("Plaintext is not repeatable")
	}
	ms, err := ParseBundle(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 50 {
		t.Fatalf("%d members, want 50", len(ms))
	}
	x := NewBundleIndex(ms)
	for i, d := range want {
		m, ok := x.Find(idOf(i))
		if !ok || !bytes.Equal(plain[m.Offset:m.Offset+m.Len], d) {
			t.Fatalf("member %d: found %v, bytes differ", i, ok)
		}
	}
	if _, ok := x.Find(idOf(99)); ok {
		t.Fatal("found a member that is not there")
	}

	// Into a pack between two plain blobs; the header lists the members.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	add := func(i int, data []byte) {
		sealed, err := s.Seal(nil, Data, idOf(i), data)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(Data, idOf(i), sealed, len(data)); err != nil {
			t.Fatal(err)
		}
	}
	add(100, []byte("before"))
	sealed, err := s.Seal(nil, TypeDataBundle, fingerprint.ID{}, plain)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddBundle(b.Members(), sealed); err != nil {
		t.Fatal(err)
	}
	add(101, []byte("after"))
	if _, err := w.Finish(s); err != nil {
		t.Fatal(err)
	}
	blobs, err := ReadHeader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 52 {
		t.Fatalf("header lists %d blobs, want 52", len(blobs))
	}
	for i, bl := range blobs[1:51] {
		if !bl.InBundle() || bl.Offset != blobs[1].Offset || bl.Sealed() != uint32(len(sealed)) ||
			bl.ID != idOf(i) || bl.RawLength != uint32(len(want[i])) {
			t.Fatalf("member entry %d: %+v", i, bl)
		}
	}
	if blobs[51].InBundle() || uint64(blobs[51].Offset) != blobs[50].End() {
		t.Fatalf("blob after the bundle: %+v", blobs[51])
	}
	got, err := s.Open(nil, TypeDataBundle, fingerprint.ID{}, buf.Bytes()[blobs[1].Offset:blobs[1].End()], MaxBundleSize)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open bundle: %v", err)
	}
}

func TestBundleLimits(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddBundle(nil, make([]byte, 100)); !errors.Is(err, ErrBlob) {
		t.Fatalf("empty bundle: %v", err)
	}
	if err := w.AddBundle(make([]Member, MaxBundleMembers+1), make([]byte, 100)); !errors.Is(err, ErrBlob) {
		t.Fatalf("too many members: %v", err)
	}
	if err := w.AddBundle(make([]Member, 1), make([]byte, seal.Overhead-1)); !errors.Is(err, ErrBlob) {
		t.Fatalf("short sealed bundle: %v", err)
	}
	// A header whose bundle holds a Tree, or whose bundled entries do not
	// start where the previous bundle ended, is corrupt.
	l := uint32(100) | Bundled
	for name, bl := range map[string][]Blob{
		"tree member":  {{Type: Tree, Length: l}},
		"gap":          {{Type: Data, Length: l}, {Type: Data, Offset: 101, Length: l}},
		"other length": {{Type: Data, Length: l}, {Type: Data, Length: 99 | Bundled}},
	} {
		if _, err := decodeHeader(encodeHeader(bl), 100); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := []Blob{{Type: Data, Length: l}, {Type: Data, Length: l}, {Type: Data, Offset: 100, Length: 29}}
	if _, err := decodeHeader(encodeHeader(ok), 129); err != nil {
		t.Fatalf("two members and a blob: %v", err)
	}
	many := make([]Blob, MaxBundleMembers+1)
	for i := range many {
		many[i] = Blob{Type: Data, Length: l}
	}
	if _, err := decodeHeader(encodeHeader(many), 100); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%d members: %v", len(many), err)
	}
}

func TestParseBundleDamage(t *testing.T) {
	var b Bundler
	b.Add(idOf(1), []byte("hello"))
	b.Add(idOf(2), []byte("world!"))
	plain := bytes.Clone(b.Plaintext())
	for i := range plain {
		for _, cut := range []bool{false, true} {
			p := bytes.Clone(plain)
			if cut {
				p = p[:i]
			} else {
				p[i] ^= 0x80
			}
			ms, err := ParseBundle(p)
			if err == nil {
				// Flipping a byte of a member or of an ID changes
				// content, not structure.
				if cut || len(ms) != 2 {
					t.Fatalf("damage at %d (cut %v) accepted: %v", i, cut, ms)
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("damage at %d: %v is not ErrCorrupt", i, err)
			}
		}
	}
}

// FuzzParseBundle: arbitrary plaintexts (what a holder of the key could
// seal) never panic, and accepted members tile the member region.
func FuzzParseBundle(f *testing.F) {
	var b Bundler
	b.Add(idOf(1), []byte("hello"))
	b.Add(idOf(2), nil)
	f.Add(bytes.Clone(b.Plaintext()))
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		ms, err := ParseBundle(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var off uint32
		for _, m := range ms {
			if m.Offset != off {
				t.Fatalf("member at %d, want %d", m.Offset, off)
			}
			off += m.Len
		}
		if int(off) > len(p) {
			t.Fatalf("members end at %d past %d bytes", off, len(p))
		}
	})
}

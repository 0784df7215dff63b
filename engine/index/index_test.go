package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
)

func idOf(i int) fingerprint.ID {
	var id fingerprint.ID
	binary.BigEndian.PutUint64(id[:], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(id[24:], uint64(i))
	return id
}

func packOf(i int) pack.ID { return pack.Sum(fmt.Appendf(nil, "pack %d", i)) }

// packBlobs returns n blobs with IDs from first, tiling a pack.
func packBlobs(first, n int, t pack.BlobType) []pack.Blob {
	bs := make([]pack.Blob, n)
	var off uint32
	for i := range bs {
		l := uint32(100 + (first+i)%5000)
		bs[i] = pack.Blob{Type: t, ID: idOf(first + i), Offset: off, Length: l, RawLength: l}
		off += l
	}
	return bs
}

type oracleKey struct {
	t  pack.BlobType
	id fingerprint.ID
}

func checkAgainst(t *testing.T, x *Index, want map[oracleKey]Location, absent int) {
	t.Helper()
	if x.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(want))
	}
	for k, loc := range want {
		got, ok := x.Lookup(k.t, k.id)
		if !ok || got != loc {
			t.Fatalf("Lookup(%v %s) = %v %v, want %v", k.t, k.id.Short(), got, ok, loc)
		}
		if !x.Has(k.t, k.id) {
			t.Fatalf("Has(%v %s) = false", k.t, k.id.Short())
		}
	}
	for i := range absent {
		id := idOf(1_000_000_000 + i)
		if x.Has(pack.Data, id) || x.Has(pack.Tree, id) {
			t.Fatalf("Has(absent %s) = true", id.Short())
		}
	}
}

func TestEntrySize(t *testing.T) {
	if entrySize != 44 {
		t.Fatalf("entry is %d bytes, want 44", entrySize)
	}
}

// TestAddLookup adds packs until several tail merges happened, checking
// every lookup against a map after each step.
func TestAddLookup(t *testing.T) {
	x := New()
	want := map[oracleKey]Location{}
	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	for p := 0; x.Len() < 3*4096+1000; p++ {
		n := 1 + rng.IntN(400)
		typ := pack.Data
		if p%5 == 4 {
			typ = pack.Tree
		}
		first := next
		if p%7 == 6 && next > 100 {
			first = next - 50 // half known, half new
		}
		blobs := packBlobs(first, n, typ)
		added, err := x.Add(packOf(p), blobs)
		if err != nil {
			t.Fatal(err)
		}
		wantAdded := 0
		for _, b := range blobs {
			k := oracleKey{b.Type, b.ID}
			if _, ok := want[k]; !ok {
				want[k] = Location{Pack: packOf(p), Offset: b.Offset, Length: b.Length}
				wantAdded++
			}
		}
		if added != wantAdded {
			t.Fatalf("pack %d: Add = %d, want %d", p, added, wantAdded)
		}
		next = max(next, first+n)
		if p%10 == 0 {
			checkAgainst(t, x, want, 50)
		}
	}
	if len(x.main) == 0 {
		t.Fatal("the tail was never merged into main")
	}
	checkAgainst(t, x, want, 1000)
}

func TestSameIDBothTypes(t *testing.T) {
	x := New()
	if _, err := x.Add(packOf(1), packBlobs(7, 1, pack.Data)); err != nil {
		t.Fatal(err)
	}
	if x.Has(pack.Tree, idOf(7)) {
		t.Fatal("a data blob answers for a tree blob of the same ID")
	}
	if n, _ := x.Add(packOf(2), packBlobs(7, 1, pack.Tree)); n != 1 {
		t.Fatalf("tree blob with a data blob's ID: added %d, want 1", n)
	}
	d, _ := x.Lookup(pack.Data, idOf(7))
	tr, _ := x.Lookup(pack.Tree, idOf(7))
	if d.Pack != packOf(1) || tr.Pack != packOf(2) {
		t.Fatalf("locations mixed up: data in %s, tree in %s", d.Pack.Short(), tr.Pack.Short())
	}
}

func TestAddRejects(t *testing.T) {
	x := New()
	bad := packBlobs(0, 3, pack.Data)
	bad[1].Type = 3
	if _, err := x.Add(packOf(1), bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("type 3: %v, want ErrInvalid", err)
	}
	if x.Len() != 0 || x.PackCount() != 0 {
		t.Fatal("a refused pack left entries")
	}
	if n, err := x.Add(packOf(2), nil); n != 0 || err != nil || x.PackCount() != 0 {
		t.Fatalf("empty pack: %d, %v, %d packs", n, err, x.PackCount())
	}
}

func TestMergeInto(t *testing.T) {
	mk := func(ids ...int) []entry {
		var es []entry
		for _, i := range ids {
			var id fingerprint.ID
			id[0] = byte(i)
			es = append(es, entry{id: id, ref: makeRef(0, pack.Data), off: uint32(i)})
		}
		return es
	}
	tests := []struct{ dst, src []int }{
		{nil, nil},
		{nil, []int{1, 2}},
		{[]int{1, 2}, nil},
		{[]int{1, 3, 5}, []int{2, 4, 6}},
		{[]int{10, 20}, []int{1, 2, 3}},
		{[]int{1, 2, 3}, []int{10, 20}},
		{[]int{1, 5, 9, 13, 200}, []int{0, 6, 7, 8, 201}},
	}
	for _, tt := range tests {
		want := slices.Concat(mk(tt.dst...), mk(tt.src...))
		slices.SortFunc(want, cmpEntry)
		for _, spare := range []int{0, 10} {
			dst := append(make([]entry, 0, len(tt.dst)+spare), mk(tt.dst...)...)
			got := mergeInto(dst, mk(tt.src...))
			if !slices.Equal(got, want) {
				t.Errorf("merge %v into %v (spare %d): wrong order", tt.src, tt.dst, spare)
			}
		}
	}
}

func TestScan(t *testing.T) {
	x := New()
	want := map[oracleKey]Location{}
	for p := range 40 {
		blobs := packBlobs(p*300, 300, pack.BlobType(1+p%2))
		if _, err := x.Add(packOf(p), blobs); err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			want[oracleKey{b.Type, b.ID}] = Location{Pack: packOf(p), Offset: b.Offset, Length: b.Length}
		}
	}
	var prev *Entry
	seen := 0
	if err := x.Scan(func(e Entry) error {
		if prev != nil && (bytes.Compare(prev.ID[:], e.ID[:]) > 0 || prev.ID == e.ID && prev.Type >= e.Type) {
			t.Fatalf("Scan out of order at %s", e.ID.Short())
		}
		if want[oracleKey{e.Type, e.ID}] != e.Location {
			t.Fatalf("Scan gave %v for %s", e.Location, e.ID.Short())
		}
		prev = &e
		seen++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Fatalf("Scan visited %d, want %d", seen, len(want))
	}
	stop := errors.New("stop")
	if err := x.Scan(func(Entry) error { return stop }); err != stop {
		t.Fatalf("Scan did not return fn's error: %v", err)
	}
}

// TestConcurrent: lookups and scans while packs are added (run with -race).
func TestConcurrent(t *testing.T) {
	x := New()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				x.Has(pack.Data, idOf(i%20000+g))
				if i%5000 == 0 {
					_ = x.Scan(func(Entry) error { return nil })
				}
			}
		})
	}
	for p := range 100 {
		if _, err := x.Add(packOf(p), packBlobs(p*200, 200, pack.Data)); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
	if x.Len() != 20000 {
		t.Fatalf("Len = %d", x.Len())
	}
}

func TestBuilder(t *testing.T) {
	b := NewBuilder(10)
	f1 := &File{}
	f1.AddPack(packOf(1), packBlobs(0, 10, pack.Data))
	f1.AddPack(packOf(2), packBlobs(10, 10, pack.Tree))
	f2 := &File{} // pack 2 again (a compaction that crashed), and pack 3
	f2.AddPack(packOf(2), packBlobs(10, 10, pack.Tree))
	f2.AddPack(packOf(3), packBlobs(20, 10, pack.Data))
	for _, f := range []*File{f1, f2} {
		if err := b.AddFile(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddPack(packOf(4), packBlobs(30, 5, pack.Data)); err != nil {
		t.Fatal(err)
	}
	if !b.HasPack(packOf(3)) || b.HasPack(packOf(5)) || len(b.Packs()) != 4 {
		t.Fatalf("HasPack/Packs wrong: %d packs", len(b.Packs()))
	}
	x := b.Build(func(p pack.ID) bool { return p != packOf(3) })
	if x.Len() != 25 || x.PackCount() != 3 {
		t.Fatalf("Build kept %d blobs in %d packs, want 25 in 3", x.Len(), x.PackCount())
	}
	if x.Has(pack.Data, idOf(20)) {
		t.Fatal("blob of a dropped pack is indexed")
	}
	if loc, ok := x.Lookup(pack.Data, idOf(31)); !ok || loc.Pack != packOf(4) {
		t.Fatalf("blob of pack 4: %v %v", loc, ok)
	}
	if b.HasPack(packOf(1)) {
		t.Fatal("Build did not empty the Builder")
	}
	bad := &File{Packs: []pack.ID{packOf(1)}, Blobs: []FileBlob{{Pack: 1, Type: pack.Data, Length: 100}}}
	if err := NewBuilder(0).AddFile(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad reference: %v", err)
	}
}

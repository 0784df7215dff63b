package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
)

// smallBlobs returns n small blobs cut from installed files (what bundles
// are for: synthetic text compresses no better together) and two that are
// too large to be bundled.
func smallBlobs(fx *fixture, n int) []blob {
	files, err := corpus.Files(corpus.FilesRoot(), 8<<20)
	if err != nil || len(files) < 8<<20 {
		fx.t.Fatalf("need 8 MiB of files under %s: %d bytes, %v", corpus.FilesRoot(), len(files), err)
	}
	var bs []blob
	for i, off := 0, 0; i < n; i++ {
		l := 500 + i*97%20000
		bs = append(bs, fx.blob(pack.Data, files[off:off+l]))
		off += l
	}
	bs = append(bs, fx.blob(pack.Data, corpus.Text(9991, 300<<10)), fx.blob(pack.Tree, corpus.Text(9992, 2000)))
	return bs
}

func packBytes(t *testing.T, fx *fixture) (n int64) {
	for _, p := range fx.files(dataDir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// packHeaders reads the header of every pack of fx (r must be open).
func packHeaders(t *testing.T, fx *fixture, r *Repo) [][]pack.Blob {
	t.Helper()
	var out [][]pack.Blob
	for _, p := range fx.files(dataDir) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := pack.ReadHeader(f, fi.Size(), r.metaSeal)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, blobs)
	}
	return out
}

// TestBundles: small data blobs are sealed together, read back (also
// concurrently and after the index is rebuilt from the pack headers), and
// store smaller than alone; Check verifies every member.
func TestBundles(t *testing.T) {
	ctx := context.Background()
	sizes := map[bool]int64{}
	for _, bundled := range []bool{true, false} {
		opts := Options{BundleSize: 64 << 10}
		if !bundled {
			opts.BundleBelow = -1
		}
		fx := newFixture(t, opts)
		r := fx.init()
		bs := smallBlobs(fx, 300)
		for _, b := range bs {
			if n, err := r.PutSize(ctx, b.t, b.id, b.data); err != nil || n <= 0 {
				t.Fatalf("put: %d %v", n, err)
			}
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			mustGet(t, r, b)
		}
		rep := mustCheck(t, r)
		if rep.Blobs != len(bs) {
			t.Fatalf("Check verified %d blobs, want %d", rep.Blobs, len(bs))
		}
		sizes[bundled] = packBytes(t, fx)
		if !bundled {
			closeRepo(t, r)
			continue
		}
		// The headers list the members, the large blobs alone.
		members := 0
		for _, blobs := range packHeaders(t, fx, r) {
			for _, b := range blobs {
				if b.InBundle() {
					members++
				} else if b.Type == pack.Data && b.RawLength < 256<<10 {
					t.Errorf("small data blob %s stored alone", b.ID.Short())
				}
			}
		}
		if members != 300 {
			t.Fatalf("%d bundle members, want 300", members)
		}
		closeRepo(t, r)
		// Rebuilt from the headers alone, every member reads back,
		// also from several goroutines at once (the bundle cache).
		for _, p := range fx.files(indexDir) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		r = fx.open()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < len(bs); i += 2 {
					b := bs[i%len(bs)]
					got, err := r.Get(ctx, b.t, b.id, nil)
					if err != nil || !bytes.Equal(got, b.data) {
						errs <- fmt.Errorf("get %s: %v", b.id.Short(), err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mustCheck(t, r)
		closeRepo(t, r)
	}
	t.Logf("300 small blobs of installed files: %d bytes of packs bundled, %d alone", sizes[true], sizes[false])
	if sizes[true] >= sizes[false] {
		t.Fatalf("bundled packs %d bytes, not smaller than alone (%d)", sizes[true], sizes[false])
	}
}

// TestBundleSizeEstimate: PutSize of a bundled blob reports its share at
// the ratio of the bundles sealed so far.
func TestBundleSizeEstimate(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 16 << 10})
	r := fx.init()
	defer closeRepo(t, r)
	for i := range 20 { // seals a few bundles
		b := fx.blob(pack.Data, bytes.Repeat([]byte(fmt.Sprintf("blob %d ", i)), 500))
		put(t, r, b)
	}
	data := bytes.Repeat([]byte("compressible "), 1000)
	n, err := r.PutSize(ctx, pack.Data, r.Sum(data), data)
	if err != nil || n <= 0 || n >= len(data)/4 {
		t.Fatalf("estimate %d for %d compressible bytes: %v", n, len(data), err)
	}
}

// TestBundleDamage: a damaged bundle fails every member with ErrCorrupt,
// in Get and in Check, and nothing else.
func TestBundleDamage(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 32 << 10, PackSize: 1 << 30, Packers: 1})
	r := fx.init()
	bs := smallBlobs(fx, 40)
	for _, b := range bs {
		put(t, r, b)
	}
	closeRepo(t, r)
	packs := fx.files(dataDir)
	if len(packs) != 1 {
		t.Fatalf("%d packs, want 1", len(packs))
	}
	// The first blob of the pack is the first bundle's first member.
	r = fx.open()
	loc, _ := r.idx.Lookup(bs[0].t, bs[0].id)
	if loc.Offset != 0 || loc.Length&pack.Bundled == 0 {
		t.Fatalf("first blob at %+v, want a bundle at 0", loc)
	}
	closeRepo(t, r)
	flipByte(t, packs[0], func(int) int { return 40 })
	r = fx.open()
	defer closeRepo(t, r)
	var hit, intact int
	for _, b := range bs {
		l, _ := r.idx.Lookup(b.t, b.id)
		_, err := r.Get(ctx, b.t, b.id, nil)
		if l.Offset == loc.Offset && l.Length == loc.Length {
			hit++
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("member %s of the damaged bundle: %v", b.id.Short(), err)
			}
		} else if err != nil {
			t.Fatalf("blob %s outside the damaged bundle: %v", b.id.Short(), err)
		} else {
			intact++
		}
	}
	rep, err := r.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blobProblems := 0
	for _, p := range rep.Problems {
		if !p.Blob.IsZero() {
			blobProblems++
		}
	}
	if hit < 2 || intact < 2 || blobProblems != hit || rep.Blobs != intact {
		t.Fatalf("%d members damaged, %d intact; Check: %d blob problems, %d blobs verified", hit, intact, blobProblems, rep.Blobs)
	}
}

// TestTally: a Tally counts the sealed bytes of the blobs put with its
// context, bundled ones at their share of the bundle, exactly (to a byte
// per member) once flushed; blobs present already and Puts without it
// count nothing.
func TestTally(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 64 << 10})
	r := fx.init()
	defer closeRepo(t, r)
	var tl Tally
	tctx := WithTally(ctx, &tl)
	bs := smallBlobs(fx, 100)
	for _, b := range bs {
		if _, err := r.PutSize(tctx, b.t, b.id, b.data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.PutSize(tctx, bs[0].t, bs[0].id, bs[0].data); err != nil { // present
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := fx.blob(pack.Data, []byte("not counted"))
	put(t, r, other)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var want, members int64
	for _, blobs := range packHeaders(t, fx, r) {
		for i, b := range blobs {
			if b.ID == other.id {
				continue
			}
			if b.InBundle() {
				members++
			}
			if i == 0 || b.Offset != blobs[i-1].Offset {
				want += int64(b.Sealed())
			}
		}
	}
	if got := tl.Bytes(); got > want || got < want-members {
		t.Fatalf("tally %d, sealed bytes %d (%d bundle members round down)", got, want, members)
	}
	if members < 50 {
		t.Fatalf("only %d members: the test no longer exercises bundles", members)
	}
}

// TestDropCache: a member read keeps its bundle open, so damage on disk
// after that read is not seen until DropCache; then it is ErrCorrupt.
func TestDropCache(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 32 << 10, Packers: 1})
	r := fx.init()
	bs := smallBlobs(fx, 20)
	for _, b := range bs {
		put(t, r, b)
	}
	closeRepo(t, r)
	r = fx.open()
	defer closeRepo(t, r)
	mustGet(t, r, bs[0]) // opens and keeps its bundle
	loc, _ := r.idx.Lookup(bs[0].t, bs[0].id)
	if loc.Length&pack.Bundled == 0 {
		t.Fatalf("blob at %+v is not bundled", loc)
	}
	pk := filepath.Join(fx.dir, packPath(loc.Pack))
	flipByte(t, pk, func(int) int { return int(loc.Offset) + int(loc.Length&^pack.Bundled)/2 })
	mustGet(t, r, bs[0]) // from the kept bundle
	r.DropCache()
	if _, err := r.Get(ctx, bs[0].t, bs[0].id, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get after DropCache of a damaged bundle: %v", err)
	}
}

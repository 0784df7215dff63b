package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
)

// packsOpen counts this process's descriptors open on the packs of dir.
func packsOpen(t *testing.T, dir string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(p, filepath.Join(dir, dataDir)+"/") {
			n++
		}
	}
	return n
}

// TestPackFilesKeptOpen: reads keep up to openPacks pack files open, reuse
// them (reading a blob again opens nothing), and Close closes them.
func TestPackFilesKeptOpen(t *testing.T) {
	fx := newFixture(t, Options{PackSize: 4 << 10, BundleBelow: -1, Packers: 1})
	r := fx.init()
	var bs []blob
	for i := range openPacks + 8 { // each fills its own pack
		b := fx.blob(pack.Data, corpus.Random(uint64(i), 5000))
		put(t, r, b)
		bs = append(bs, b)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.Stats().Packs; n != len(bs) {
		t.Fatalf("%d packs for %d blobs", n, len(bs))
	}
	for _, b := range bs {
		mustGet(t, r, b)
	}
	if n := packsOpen(t, fx.dir); n != openPacks {
		t.Fatalf("%d packs open after reading %d, want %d", n, len(bs), openPacks)
	}
	// The last openPacks read are open: reading them again opens none.
	before := len(r.packFiles.files)
	first := r.packFiles.files[0]
	for _, b := range bs[len(bs)-openPacks:] {
		mustGet(t, r, b)
	}
	if len(r.packFiles.files) != before || r.packFiles.files[0] != first {
		t.Fatal("reading the open packs again opened others")
	}
	closeRepo(t, r)
	if n := packsOpen(t, fx.dir); n != 0 {
		t.Fatalf("%d packs still open after Close", n)
	}
}

// TestGetUnchecked: GetUnchecked returns what Get does, and damaged data
// still fails authentication (ErrCorrupt), alone or in a bundle.
func TestGetUnchecked(t *testing.T) {
	ctx := context.Background()
	for _, below := range []int{-1, 1 << 20} { // sealed alone; bundled
		fx := newFixture(t, Options{BundleBelow: below})
		r := fx.init()
		b := fx.blob(pack.Data, corpus.Random(7, 50_000))
		put(t, r, b)
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetUnchecked(ctx, b.t, b.id, nil)
		if err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("bundle below %d: GetUnchecked: %v", below, err)
		}
		// Flip a byte in the middle of the only pack.
		var packFile string
		ok := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		ok(filepath.WalkDir(filepath.Join(fx.dir, dataDir), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				packFile = p
			}
			return err
		}))
		f, err := os.OpenFile(packFile, os.O_RDWR, 0)
		ok(err)
		one := []byte{0}
		_, err = f.ReadAt(one, 1000)
		ok(err)
		one[0] ^= 0x40
		_, err = f.WriteAt(one, 1000)
		ok(err)
		ok(f.Close())
		r.DropCache()
		if _, err := r.GetUnchecked(ctx, b.t, b.id, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bundle below %d: GetUnchecked of damaged data: %v, want ErrCorrupt", below, err)
		}
		if _, _, err := r.GetEncoded(ctx, b.t, b.id, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bundle below %d: GetEncoded of damaged data: %v, want ErrCorrupt", below, err)
		}
		_ = r.Close(ctx)
	}
}

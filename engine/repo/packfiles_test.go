package repo

import (
	"context"
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

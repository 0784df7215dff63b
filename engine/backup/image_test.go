package backup

import (
	"bytes"
	"context"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/chunker"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/tree"
)

// genImage writes a deterministic image-like file of size bytes: extents
// of 64 KiB–4 MiB (4 KiB aligned) of random bytes (30 %), text-like bytes
// (40 %) and zeros (30 %, left as holes of the file).
func genImage(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(size))
	r := rand.New(rand.NewPCG(seed, 2))
	cc := rand.NewChaCha8([32]byte{byte(seed)})
	words := []string{"the ", "kernel ", "block ", "device ", "backup ", "inode ", "of ", "and ", "data ", "\n", "config=", "0x1f ", "error ", "ok\n"}
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		n := min(int64(16+r.IntN(1009))*4096, size-off)
		b := buf[:n]
		switch k := r.IntN(10); {
		case k < 3:
			_, _ = cc.Read(b)
		case k < 7:
			for i := 0; i < len(b); {
				i += copy(b[i:], words[r.IntN(len(words))])
			}
		default:
			off += n
			continue
		}
		_, err := f.WriteAt(b, off)
		must(t, err)
		off += n
	}
	must(t, f.Sync())
}

// scatterWrites overwrites the file with random writes of 4 KiB–1 MiB
// (log-uniform, 4 KiB aligned) totalling about size/300, and returns the
// bytes changed (the union of the written ranges).
func scatterWrites(t testing.TB, path string, size int64, seed uint64) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, 3))
	cc := rand.NewChaCha8([32]byte{byte(seed), 9})
	pages := make([]bool, size/4096)
	var written int64
	for written < size/300 {
		w := int64(math.Exp(math.Log(4096)+r.Float64()*math.Log(256))) &^ 4095
		w = max(4096, min(w, 1<<20, size/300-written+4095&^4095))
		off := r.Int64N((size-w)/4096+1) * 4096
		b := make([]byte, w)
		_, _ = cc.Read(b)
		_, err := f.WriteAt(b, off)
		must(t, err)
		for p := off / 4096; p < (off+w)/4096; p++ {
			pages[p] = true
		}
		written += w
	}
	must(t, f.Sync())
	var changed int64
	for _, p := range pages {
		if p {
			changed += 4096
		}
	}
	return changed
}

// dirSize is the bytes of the regular files under dir.
func dirSize(t testing.TB, dir string) int64 {
	var n int64
	must(t, filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	}))
	return n
}

type growth struct {
	changed, stored, grown, first int64
	ratio                         float64
}

// imageGrowth backs up a generated image of size bytes, applies scattered
// writes, backs it up again (incrementally) and measures how much the
// repository grew for the changed bytes; it restores the second
// generation and compares it with the source.
func imageGrowth(t testing.TB, size int64, ic *imageChunking) growth {
	ctx := context.Background()
	r, dir := initRepo(t, newMaster(t), repo.Options{Chunker: chunker.FileParams()})
	src := filepath.Join(t.TempDir(), "disk.img")
	genImage(t, src, size, 1)
	opts := Options{Hostname: "h", Images: []string{src}, imageChunking: ic}
	res1, err := Run(ctx, r, nil, opts)
	must(t, err)
	before := dirSize(t, dir)
	changed := scatterWrites(t, src, size, 2)
	opts.Parent = res1.Snapshot
	res2, err := Run(ctx, r, nil, opts)
	must(t, err)
	must(t, r.Flush(ctx))
	g := growth{changed: changed, stored: res2.Snapshot.Summary.BytesStored, grown: dirSize(t, dir) - before, first: before}
	g.ratio = float64(g.grown) / float64(changed)
	if tt, ok := t.(*testing.T); ok {
		target := tt.TempDir()
		rr, err := restore.Restore(ctx, r, res2.Snapshot, "", target, restore.Options{})
		must(t, err)
		if len(rr.Failed) != 0 {
			t.Fatalf("restore: %+v", rr.Failed)
		}
		want, err := os.ReadFile(src)
		must(t, err)
		got, err := os.ReadFile(filepath.Join(target, "disk.img"))
		must(t, err)
		if !bytes.Equal(want, got) {
			t.Fatal("restored image differs")
		}
	}
	return g
}

// TestImageIncrementalGrowth: the second generation of a 64 MiB image
// with scattered writes of 1/300 of its size grows the repository by at
// most 4× the changed bytes (the bound), and restores identically.
func TestImageIncrementalGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB twice: skipped under -short only")
	}
	g := imageGrowth(t, 64<<20, nil)
	t.Logf("changed %d, stored %d, repository grew %d: %.2f×", g.changed, g.stored, g.grown, g.ratio)
	if g.ratio > 4 {
		t.Fatalf("repository grew %.2f× the changed bytes", g.ratio)
	}
}

// BenchmarkImageGrowth compares image chunkings on a 256 MiB image with
// 1/300 of it overwritten (KEEP_IMAGE_MIB sets the size): growth-ratio is
// the repository's growth per changed byte, first-MiB the first
// generation's size on disk.
func BenchmarkImageGrowth(b *testing.B) {
	size := int64(256 << 20)
	if s := os.Getenv("KEEP_IMAGE_MIB"); s != "" {
		var mib int64
		for _, c := range s {
			mib = mib*10 + int64(c-'0')
		}
		size = mib << 20
	}
	for _, c := range []struct {
		name string
		ic   *imageChunking
	}{
		{"aligned-16/64/256K", nil}, // the default
		{"fixed-16K", &imageChunking{block: 16 << 10}},
		{"fixed-32K", &imageChunking{block: 32 << 10}},
		{"fixed-64K", &imageChunking{block: 64 << 10}},
		{"fixed-128K", &imageChunking{block: 128 << 10}},
		{"cdc-image-16/64/256K", &imageChunking{cdc: chunker.ImageParams()}},
		{"cdc-file-256K/1M/4M", &imageChunking{cdc: chunker.FileParams()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var g growth
			for range b.N {
				g = imageGrowth(b, size, c.ic)
			}
			b.ReportMetric(g.ratio, "growth-ratio")
			b.ReportMetric(float64(g.grown)/(1<<20), "grown-MiB")
			b.ReportMetric(float64(g.changed)/(1<<20), "changed-MiB")
			b.ReportMetric(float64(g.first)/(1<<20), "first-MiB")
		})
	}
}

// TestImageBlocks: zero blocks of an image become holes (stored as
// nothing), chunks are whole 4 KiB blocks aligned to image offsets, and
// the Image node carries the source's size.
func TestImageBlocks(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := filepath.Join(t.TempDir(), "img")
	data := make([]byte, 1<<20+100)
	copy(data[70000:], pseudo(1, 5000)) // inside block 1
	copy(data[1<<20:], pseudo(2, 100))  // a short last block
	must(t, os.WriteFile(src, data, 0o640))
	res, err := Run(ctx, r, nil, Options{Hostname: "h", Images: []string{src}})
	must(t, err)
	nodes, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	n := nodes[0]
	if n.Type != tree.Image || n.Size != uint64(len(data)) || n.Rdev != 0 || n.Name != "img" {
		t.Fatalf("node %+v", n)
	}
	// The data at 70000–75000 lies in 4 KiB blocks 17 and 18: one chunk
	// or, when the vault's keyed hash cuts after block 17, two. Runs of
	// data extents are merged for the comparison.
	const a = ImageAlign
	want := []tree.Extent{{Hole: true, Length: 17 * a}, {Length: 2 * a}, {Hole: true, Length: 1<<20 - 19*a}, {Length: 100}}
	var got []tree.Extent
	for _, e := range n.Content {
		if k := len(got) - 1; k >= 0 && !e.Hole && !got[k].Hole {
			got[k].Length += e.Length
			continue
		}
		got = append(got, tree.Extent{Hole: e.Hole, Length: e.Length})
	}
	if len(got) != len(want) {
		t.Fatalf("content %+v", n.Content)
	}
	for i, e := range got {
		if e.Hole != want[i].Hole || e.Length != want[i].Length {
			t.Fatalf("extent %d: %+v, want %+v (content %+v)", i, e, want[i], n.Content)
		}
	}
	if s := res.Snapshot.Summary; s.ChunksNew != int64(len(n.Content)-2) || s.BytesSeen != int64(len(data)) {
		t.Fatalf("summary %+v, content %+v", s, n.Content)
	}
}

// TestImageAlignedDedup: a file's copy elsewhere in an image, at another
// 4 KiB-aligned offset (not the same modulo 64 KiB), is deduplicated by
// the default aligned chunking; fixed 64 KiB blocks store it again.
func TestImageAlignedDedup(t *testing.T) {
	ctx := context.Background()
	file := pseudo(7, 600<<10)
	data := make([]byte, 4<<20)
	copy(data[8<<10:], file)
	copy(data[2<<20+12<<10:], file) // 12 KiB past a 64 KiB boundary
	src := filepath.Join(t.TempDir(), "img")
	must(t, os.WriteFile(src, data, 0o600))
	stored := map[string]int64{}
	for name, ic := range map[string]*imageChunking{"aligned": nil, "fixed-64K": {block: 64 << 10}} {
		r, _ := initRepo(t, newMaster(t), repo.Options{Chunker: chunker.FileParams()})
		res, err := Run(ctx, r, nil, Options{Hostname: "h", Images: []string{src}, imageChunking: ic})
		must(t, err)
		stored[name] = res.Snapshot.Summary.BytesNew
	}
	t.Logf("new bytes of two copies of a 600 KiB file: %v", stored)
	if a := stored["aligned"]; a > int64(len(file))+256<<10 {
		t.Errorf("aligned chunking stored %d new bytes for two copies of %d", a, len(file))
	}
	if f := stored["fixed-64K"]; f < int64(len(file))*3/2 {
		t.Errorf("fixed blocks stored only %d new bytes: the test image no longer tells them apart", f)
	}
}

package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/repo"
	"keep/engine/restore"
)

// benchCorpus writes a deterministic tree of 96 MiB: 3/4 text-like, 1/4
// random, in 192 files of 64 KiB to 2 MiB across 8 directories. It
// returns the root, the file paths and the total size.
func benchCorpus(b *testing.B, dir string) (string, []string, int64) {
	b.Helper()
	root := filepath.Join(dir, "corpus")
	var files []string
	var total int64
	for i := range 192 {
		d := filepath.Join(root, fmt.Sprintf("d%d", i%8))
		must(b, os.MkdirAll(d, 0o755))
		size := 64<<10 + (i*7919)%(2<<20-64<<10)
		var data []byte
		if i%4 == 3 {
			data = corpus.Random(uint64(i), size)
		} else {
			data = corpus.Text(uint64(i), size)
		}
		p := filepath.Join(d, fmt.Sprintf("f%03d", i))
		must(b, os.WriteFile(p, data, 0o644))
		files = append(files, p)
		total += int64(size)
	}
	return root, files, total
}

func BenchmarkBackup(b *testing.B) {
	ctx := context.Background()
	root, _, total := benchCorpus(b, b.TempDir())
	m := newMaster(b)
	b.SetBytes(total)
	var ratio float64
	for b.Loop() {
		b.StopTimer()
		r, err := repo.Init(ctx, repo.DirFS(b.TempDir()), m, repo.Options{})
		must(b, err)
		b.StartTimer()
		res, err := Run(ctx, r, []string{root}, Options{Hostname: "bench"})
		must(b, err)
		ratio = res.Snapshot.Summary.Compression
		b.StopTimer()
		must(b, r.Close(ctx))
		b.StartTimer()
	}
	b.ReportMetric(ratio, "compression")
}

func BenchmarkRestore(b *testing.B) {
	ctx := context.Background()
	root, _, total := benchCorpus(b, b.TempDir())
	r, err := repo.Init(ctx, repo.DirFS(b.TempDir()), newMaster(b), repo.Options{})
	must(b, err)
	defer r.Close(ctx)
	res, err := Run(ctx, r, []string{root}, Options{Hostname: "bench"})
	must(b, err)
	b.SetBytes(total)
	for b.Loop() {
		b.StopTimer()
		target := b.TempDir()
		b.StartTimer()
		rr, err := restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{})
		must(b, err)
		if len(rr.Failed) != 0 {
			b.Fatal(rr.Failed)
		}
	}
}

// BenchmarkIncremental2pct backs up the corpus, changes 2% of its files
// (a 16 KiB overwrite in the middle), and times the incremental backup;
// it reports the new bytes stored per changed byte and per corpus byte.
func BenchmarkIncremental2pct(b *testing.B) {
	ctx := context.Background()
	root, files, total := benchCorpus(b, b.TempDir())
	m := newMaster(b)
	b.SetBytes(total)
	var stored, changed int64
	gen := 0
	for b.Loop() {
		b.StopTimer()
		r, err := repo.Init(ctx, repo.DirFS(b.TempDir()), m, repo.Options{})
		must(b, err)
		full, err := Run(ctx, r, []string{root}, Options{Hostname: "bench"})
		must(b, err)
		changed = 0
		gen++
		for i := 0; i < len(files); i += 50 { // 2% of the files
			f, err := os.OpenFile(files[i], os.O_WRONLY, 0)
			must(b, err)
			fi, _ := f.Stat()
			_, err = f.WriteAt(corpus.Random(uint64(1000*gen+i), 16<<10), fi.Size()/2)
			must(b, err)
			must(b, f.Close())
			changed += 16 << 10
		}
		b.StartTimer()
		inc, err := Run(ctx, r, []string{root}, Options{Hostname: "bench", Parent: full.Snapshot})
		must(b, err)
		b.StopTimer()
		stored = inc.Snapshot.Summary.BytesStored
		must(b, r.Close(ctx))
		b.StartTimer()
	}
	b.ReportMetric(float64(stored), "stored-bytes")
	b.ReportMetric(float64(stored)/float64(changed), "stored/changed")
	b.ReportMetric(100*float64(stored)/float64(total), "stored-%")
}

package repo

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"keep/engine/chunker"
	"keep/engine/internal/corpus"
	"keep/engine/pack"
)

const benchInput = 64 << 20

// benchInputs returns the inputs: real files when the tree is there, and
// compressible and incompressible synthetic data.
func benchInputs(b *testing.B) []struct {
	name string
	data []byte
} {
	ins := []struct {
		name string
		data []byte
	}{{"text", corpus.Text(1, benchInput)}, {"random", corpus.Random(1, benchInput)}}
	if files, err := corpus.Files(corpus.FilesRoot(), benchInput); err == nil && len(files) == benchInput {
		ins = append([]struct {
			name string
			data []byte
		}{{"files", files}}, ins...)
	}
	return ins
}

// chunks cuts data with p and fingerprints each chunk, as an agent does
// before it sends them.
func chunks(b *testing.B, fx *fixture, p chunker.Params, data []byte) []blob {
	c, err := chunker.New(p, chunker.Seed{1})
	if err != nil {
		b.Fatal(err)
	}
	ch := c.NewChunker(bytes.NewReader(data))
	var out []blob
	for {
		chunk, err := ch.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, fx.blob(pack.Data, bytes.Clone(chunk.Data)))
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// BenchmarkPut stores 64 MiB of chunks into a fresh repository and
// flushes: fingerprint check, compression, encryption, pack writes with
// fsync, index file. Serial is one caller; parallel is GOMAXPROCS callers.
func BenchmarkPut(b *testing.B) {
	for _, in := range benchInputs(b) {
		for _, p := range []struct {
			name string
			p    chunker.Params
		}{{"1MiB", chunker.FileParams()}, {"64KiB", chunker.ImageParams()}} {
			fx := newFixture(b, Options{Chunker: p.p})
			blobs := chunks(b, fx, p.p, in.data)
			for _, mode := range []string{"serial", "parallel"} {
				b.Run(in.name+"/"+p.name+"/"+mode, func(b *testing.B) {
					b.SetBytes(benchInput)
					var stored int64
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						dir := b.TempDir()
						r, err := Init(context.Background(), DirFS(dir), fx.m, fx.opts)
						if err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						putAll(b, r, blobs, mode == "parallel")
						if err := r.Close(context.Background()); err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						stored = dirSize(b, dir)
						_ = os.RemoveAll(dir)
						b.StartTimer()
					}
					b.ReportMetric(float64(benchInput)/float64(stored), "ratio")
					b.ReportMetric(float64(len(blobs)), "chunks")
				})
			}
		}
	}
}

func putAll(b *testing.B, r *Repo, blobs []blob, parallel bool) {
	if !parallel {
		for _, bl := range blobs {
			if _, err := r.Put(context.Background(), bl.t, bl.id, bl.data); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// One caller per core, taking chunks in order from a shared cursor.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(blobs) {
					return
				}
				if _, err := r.Put(context.Background(), blobs[i].t, blobs[i].id, blobs[i].data); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkGet reads back every chunk of 64 MiB of stored files (or text).
func BenchmarkGet(b *testing.B) {
	in := benchInputs(b)[0]
	fx := newFixture(b, Options{})
	blobs := chunks(b, fx, chunker.FileParams(), in.data)
	r := fx.init()
	defer closeRepo(b, r)
	putAll(b, r, blobs, false)
	if err := r.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Run(in.name, func(b *testing.B) {
		b.SetBytes(benchInput)
		var buf []byte
		for b.Loop() {
			for _, bl := range blobs {
				var err error
				if buf, err = r.Get(context.Background(), bl.t, bl.id, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkHas: the dedup query an agent's "which do you lack" makes.
func BenchmarkHas(b *testing.B) {
	fx := newFixture(b, Options{})
	blobs := chunks(b, fx, chunker.ImageParams(), corpus.Random(3, 32<<20))
	r := fx.init()
	defer closeRepo(b, r)
	putAll(b, r, blobs, false)
	if err := r.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		r.Has(pack.Data, blobs[i%len(blobs)].id)
		i++
	}
}

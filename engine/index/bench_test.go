package index

import (
	"fmt"
	"runtime"
	"testing"

	"keep/engine/pack"
)

// benchEntries is about 1 TB of unique data at 1 MiB average chunks.
const benchEntries = 1 << 20

// blobsPerPack: 16 MiB packs of 1 MiB incompressible chunks (the fewest
// blobs per pack, so the most pack-table bytes per blob).
const blobsPerPack = 16

// buildByAdd indexes n blobs pack by pack, the way a long backup does.
func buildByAdd(tb testing.TB, n int) *Index {
	x := New()
	for p := 0; p*blobsPerPack < n; p++ {
		if _, err := x.Add(packOf(p), packBlobs(p*blobsPerPack, blobsPerPack, pack.Data)); err != nil {
			tb.Fatal(err)
		}
	}
	return x
}

// buildByLoad indexes n blobs through a Builder, the way Open loads index
// files.
func buildByLoad(tb testing.TB, n int) *Index {
	b := NewBuilder(n)
	for p := 0; p*blobsPerPack < n; p++ {
		if err := b.AddPack(packOf(p), packBlobs(p*blobsPerPack, blobsPerPack, pack.Data)); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Build(nil)
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory reports the index's bytes per blob at 1M blobs: as the
// index counts its arrays (B/entry) and as the Go heap grew (heap-B/entry).
// DESIGN §7: ≤ 0.05 GB per TB, about 50 bytes per 1 MiB chunk.
func BenchmarkMemory(b *testing.B) {
	for _, build := range []struct {
		name string
		fn   func(testing.TB, int) *Index
	}{{"add", buildByAdd}, {"load", buildByLoad}} {
		b.Run(build.name, func(b *testing.B) {
			var perEntry, heapPerEntry float64
			for b.Loop() {
				before := heapAlloc()
				x := build.fn(b, benchEntries)
				after := heapAlloc()
				perEntry = float64(x.MemoryBytes()) / float64(x.Len())
				heapPerEntry = float64(after-before) / float64(x.Len())
				runtime.KeepAlive(x)
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(heapPerEntry, "heap-B/entry")
			b.ReportMetric(perEntry*(1e12/(1<<20))/1e9, "GB/TB@1MiB")
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	x := buildByLoad(b, benchEntries)
	// Some recent packs in the tail, as in a running backup.
	for p := range 100 {
		if _, err := x.Add(packOf(1e6+p), packBlobs(benchEntries+p*blobsPerPack, blobsPerPack, pack.Data)); err != nil {
			b.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name  string
		first int
	}{{"present", 0}, {"absent", 1 << 30}} {
		b.Run(fmt.Sprintf("%s/%dk", tt.name, benchEntries>>10), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if x.Has(pack.Data, idOf(tt.first+i%benchEntries)) != (tt.first == 0) {
					b.Fatal("wrong answer")
				}
				i++
			}
		})
	}
	b.Run("parallel-present", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				x.Has(pack.Data, idOf(i%benchEntries))
				i += 7
			}
		})
	})
}

// BenchmarkAdd: the cost of indexing a new pack of 16 blobs into an index
// of 1M blobs (tail inserts and amortized merges).
func BenchmarkAdd(b *testing.B) {
	x := buildByLoad(b, benchEntries)
	p := 0
	for b.Loop() {
		if _, err := x.Add(packOf(2e6+p), packBlobs(2*benchEntries+p*blobsPerPack, blobsPerPack, pack.Data)); err != nil {
			b.Fatal(err)
		}
		p++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(p*blobsPerPack), "ns/blob")
}

package seal

import (
	"fmt"
	"testing"

	"keep/engine/internal/corpus"
)

func BenchmarkSealOpen(b *testing.B) {
	s, err := New(testKey(1), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size = 1 << 20
	type input struct {
		name string
		data []byte
	}
	inputs := []input{{"text", corpus.Text(1, size)}, {"random", corpus.Random(1, size)},
		{"code", machineCode(b, size)}} // through the x86 filter
	// Real files, 1 MiB from the middle of the tree's first 64 MiB.
	if files, err := corpus.Files(corpus.FilesRoot(), 64<<20); err == nil && len(files) == 64<<20 {
		inputs = append(inputs, input{"files", files[32<<20 : 32<<20+size]})
	}
	for _, in := range inputs {
		blob, err := s.Seal(nil, TypeChunk, idOf(1), in.data)
		if err != nil {
			b.Fatal(err)
		}
		ratio := float64(len(in.data)) / float64(len(blob))
		b.Run(fmt.Sprintf("Seal/%s", in.name), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			dst := make([]byte, 0, 2*size)
			for b.Loop() {
				if dst, err = s.Seal(dst[:0], TypeChunk, idOf(1), in.data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ratio, "ratio")
		})
		b.Run(fmt.Sprintf("Open/%s", in.name), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			dst := make([]byte, 0, size)
			for b.Loop() {
				if dst, err = s.Open(dst[:0], TypeChunk, idOf(1), blob, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package chunker

import (
	"bytes"
	"io"
	"testing"

	"keep/engine/internal/corpus"
)

func benchmarkChunker(b *testing.B, p Params, data []byte) {
	c := mustNew(b, p, Seed{1})
	r := bytes.NewReader(data)
	ch := c.NewChunker(r)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var chunks int
	for b.Loop() {
		r.Reset(data)
		ch.Reset(r)
		for {
			_, err := ch.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunks++
		}
	}
	b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
}

func BenchmarkChunker(b *testing.B) {
	const size = 64 << 20
	type input struct {
		name string
		data []byte
	}
	inputs := []input{{"random", corpus.Random(1, size)}, {"text", corpus.Text(1, size)}}
	if files, err := corpus.Files(corpus.FilesRoot(), size); err == nil && len(files) == size {
		inputs = append(inputs, input{"files", files})
	}
	params := []struct {
		name string
		p    Params
	}{
		{"file", FileParams()},
		{"image", ImageParams()},
	}
	for _, in := range inputs {
		for _, p := range params {
			b.Run(in.name+"/"+p.name, func(b *testing.B) { benchmarkChunker(b, p.p, in.data) })
		}
	}
}

// BenchmarkBoundaries measures the cut-point search alone (no reader, no
// buffer copies).
func BenchmarkBoundaries(b *testing.B) {
	data := corpus.Text(1, 64<<20)
	for _, p := range []struct {
		name string
		p    Params
	}{{"file", FileParams()}, {"image", ImageParams()}} {
		b.Run(p.name, func(b *testing.B) {
			c := mustNew(b, p.p, Seed{1})
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for off := 0; off < len(data); {
					off += c.Cut(data[off:])
				}
			}
		})
	}
}

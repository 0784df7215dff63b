package ingestbench

import (
	"bytes"
	"io"
	"testing"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
	"keep/engine/seal"
)

func BenchmarkIngest(b *testing.B) {
	const size = 64 << 20
	key := bytes.Repeat([]byte{7}, 32)
	fp, err := fingerprint.New(key)
	if err != nil {
		b.Fatal(err)
	}
	s, err := seal.New(key, seal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	inputs := []struct {
		name string
		data []byte
	}{{"text", corpus.Text(1, size)}, {"random", corpus.Random(1, size)}}
	if files, err := corpus.Files(corpus.FilesRoot(), size); err == nil && len(files) == size {
		inputs = append(inputs, struct {
			name string
			data []byte
		}{"files", files})
	}
	for _, in := range inputs {
		for _, p := range []struct {
			name string
			p    chunker.Params
		}{{"file", chunker.FileParams()}, {"image", chunker.ImageParams()}} {
			b.Run(in.name+"/"+p.name, func(b *testing.B) {
				c, err := chunker.New(p.p, chunker.Seed{1})
				if err != nil {
					b.Fatal(err)
				}
				r := bytes.NewReader(in.data)
				ch := c.NewChunker(r)
				var blob []byte
				var stored int64
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(in.data)
					ch.Reset(r)
					stored = 0
					for {
						chunk, err := ch.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						id := fp.Sum(chunk.Data)
						if blob, err = s.Seal(blob[:0], seal.TypeChunk, id, chunk.Data); err != nil {
							b.Fatal(err)
						}
						stored += int64(len(blob))
					}
				}
				b.ReportMetric(float64(size)/float64(stored), "ratio")
			})
		}
	}
}

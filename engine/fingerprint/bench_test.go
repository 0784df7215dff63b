package fingerprint

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"testing"

	"keep/engine/internal/corpus"
)

var benchSizes = []int{4 << 10, 64 << 10, 1 << 20}

func BenchmarkSum(b *testing.B) {
	h, _ := New(make([]byte, 32))
	for _, n := range benchSizes {
		data := corpus.Random(1, n)
		b.Run(fmt.Sprintf("blake3/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				h.Sum(data)
			}
		})
	}
}

// BenchmarkHMACSHA256 is the alternative the package doc compares against.
func BenchmarkHMACSHA256(b *testing.B) {
	m := hmac.New(sha256.New, make([]byte, 32))
	for _, n := range benchSizes {
		data := corpus.Random(1, n)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			var sum [32]byte
			for b.Loop() {
				m.Reset()
				m.Write(data)
				m.Sum(sum[:0])
			}
		})
	}
}

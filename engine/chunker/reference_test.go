package chunker

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"keep/engine/internal/corpus"
)

// referenceCut is the textbook one-byte-at-a-time FastCDC loop with the
// same warm-up, the oracle for Cut's two-bytes-per-step scan.
func referenceCut(c *Cutter, data []byte) int {
	n := len(data)
	if n <= c.p.Min {
		return n
	}
	n = min(n, c.p.Max)
	var h uint64
	for i := c.p.Min - window; i < n; i++ {
		h = h<<1 + c.gear[data[i]]
		if i < c.p.Min {
			continue
		}
		mask := c.maskL
		if i < c.p.Avg {
			mask = c.maskS
		}
		if h&mask == 0 {
			return i + 1
		}
	}
	return n
}

func TestCutMatchesReference(t *testing.T) {
	for _, p := range []Params{testParams, {Min: 64, Avg: 256, Max: 1024}, {Min: 65, Avg: 512, Max: 777}} {
		c := mustNew(t, p, Seed{13})
		for _, data := range [][]byte{corpus.Random(13, 2<<20), corpus.Text(13, 2<<20), make([]byte, 3*p.Max)} {
			for off := 0; off < len(data); {
				got, want := c.Cut(data[off:]), referenceCut(c, data[off:])
				if got != want {
					t.Fatalf("%v at %d: Cut = %d, reference = %d", p, off, got, want)
				}
				off += got
			}
		}
	}
}

// TestGolden pins the boundaries of a fixed input: they are part of the
// storage format (dedup against existing vault data depends on them), so a
// change here must be deliberate.
func TestGolden(t *testing.T) {
	c := mustNew(t, testParams, Seed{'k', 'e', 'e', 'p'})
	h := sha256.New()
	for _, ch := range c.Boundaries(corpus.Random(42, 4<<20)) {
		_ = binary.Write(h, binary.LittleEndian, int64(ch.Length))
	}
	got := fmt.Sprintf("%x", h.Sum(nil))
	const want = "253c02ffe56c614e66711961303927ecf468ea441b6eb6fdba1ed63192c253ce"
	if got != want {
		t.Errorf("boundary digest %s, want %s", got, want)
	}
}

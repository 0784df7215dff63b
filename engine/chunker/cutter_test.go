package chunker

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"keep/engine/internal/corpus"
)

// testParams are small enough that a few MiB give hundreds of chunks.
var testParams = Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}

func mustNew(t testing.TB, p Params, seed Seed) *Cutter {
	t.Helper()
	c, err := New(p, seed)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkChunks asserts that chunks tile data and respect c's bounds.
func checkChunks(t testing.TB, c *Cutter, data []byte, chunks []Chunk) {
	t.Helper()
	var off int64
	for i, ch := range chunks {
		if ch.Offset != off {
			t.Fatalf("chunk %d at offset %d, want %d", i, ch.Offset, off)
		}
		if ch.Length != len(ch.Data) || !bytes.Equal(ch.Data, data[off:off+int64(ch.Length)]) {
			t.Fatalf("chunk %d: data does not match input", i)
		}
		last := i == len(chunks)-1
		if ch.Length > c.p.Max || ch.Length <= 0 || (!last && ch.Length < c.p.Min) {
			t.Fatalf("chunk %d of %d: length %d outside [%d, %d]", i, len(chunks), ch.Length, c.p.Min, c.p.Max)
		}
		off += int64(ch.Length)
	}
	if off != int64(len(data)) {
		t.Fatalf("chunks cover %d bytes, want %d", off, len(data))
	}
}

func TestBoundariesDeterministicAndBounded(t *testing.T) {
	data := corpus.Random(1, 8<<20)
	for _, p := range []Params{testParams, ImageParams(), FileParams(), {Min: 64, Avg: 256, Max: 1024}} {
		t.Run(p.String(), func(t *testing.T) {
			c := mustNew(t, p, Seed{1})
			a := c.Boundaries(data)
			checkChunks(t, c, data, a)
			b := mustNew(t, p, Seed{1}).Boundaries(data)
			if fmt.Sprint(lengths(a)) != fmt.Sprint(lengths(b)) {
				t.Fatal("same seed and data gave different boundaries")
			}
			mean := len(data) / len(a)
			t.Logf("%d chunks, mean %d (avg %d)", len(a), mean, p.Avg)
			// Normalized chunking centres the mean near Avg (plus Min).
			if mean < p.Avg/2 || mean > p.Avg+p.Min+p.Avg/2 {
				t.Errorf("mean chunk %d far from avg %d", mean, p.Avg)
			}
		})
	}
}

func lengths(chunks []Chunk) []int {
	l := make([]int, len(chunks))
	for i, c := range chunks {
		l[i] = c.Length
	}
	return l
}

func TestSeedChangesBoundaries(t *testing.T) {
	data := corpus.Random(2, 4<<20)
	a := lengths(mustNew(t, testParams, Seed{1}).Boundaries(data))
	b := lengths(mustNew(t, testParams, Seed{2}).Boundaries(data))
	if fmt.Sprint(a) == fmt.Sprint(b) {
		t.Fatal("different seeds gave the same boundaries")
	}
}

// sharedFraction returns the fraction of b's chunks (by content) that also
// occur in a.
func sharedFraction(a, b []Chunk) float64 {
	seen := make(map[[32]byte]bool, len(a))
	for _, c := range a {
		seen[sha256.Sum256(c.Data)] = true
	}
	shared := 0
	for _, c := range b {
		if seen[sha256.Sum256(c.Data)] {
			shared++
		}
	}
	return float64(shared) / float64(len(b))
}

func TestResyncAfterInsertion(t *testing.T) {
	data := corpus.Random(3, 16<<20)
	edited := make([]byte, 0, len(data)+1)
	edited = append(append(append(edited, data[:1000]...), 0x42), data[1000:]...)
	for _, p := range []Params{testParams, ImageParams()} {
		c := mustNew(t, p, Seed{3})
		f := sharedFraction(c.Boundaries(data), c.Boundaries(edited))
		t.Logf("%v: %.2f%% of chunks shared after a 1-byte insertion at 1000", p, 100*f)
		if f < 0.95 {
			t.Errorf("%v: only %.2f%% shared, want ≥ 95%%", p, 100*f)
		}
	}
}

func TestResyncAfterDeletionInMiddle(t *testing.T) {
	data := corpus.Text(4, 16<<20)
	edited := append(append([]byte{}, data[:8<<20]...), data[8<<20+100:]...)
	c := mustNew(t, testParams, Seed{4})
	if f := sharedFraction(c.Boundaries(data), c.Boundaries(edited)); f < 0.95 {
		t.Errorf("only %.2f%% shared after deleting 100 bytes mid-stream", 100*f)
	}
}

func TestAllZero(t *testing.T) {
	c := mustNew(t, testParams, Seed{5})
	data := make([]byte, 10*testParams.Max+123)
	chunks := c.Boundaries(data)
	checkChunks(t, c, data, chunks)
	// A constant stream has a constant hash, so every chunk but the last
	// has the same length: all-zero regions dedup to one chunk.
	for i, ch := range chunks[:len(chunks)-1] {
		if ch.Length != chunks[0].Length {
			t.Fatalf("chunk %d length %d, chunk 0 length %d", i, ch.Length, chunks[0].Length)
		}
	}
}

func TestTinyInputs(t *testing.T) {
	c := mustNew(t, Params{Min: 64, Avg: 256, Max: 1024}, Seed{6})
	for _, n := range []int{0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 2049} {
		data := corpus.Random(uint64(n), n)
		chunks := c.Boundaries(data)
		checkChunks(t, c, data, chunks)
		if n == 0 && len(chunks) != 0 {
			t.Errorf("empty input gave %d chunks", len(chunks))
		}
		if n > 0 && n <= 64 && len(chunks) != 1 {
			t.Errorf("%d bytes gave %d chunks, want 1", n, len(chunks))
		}
	}
}

func TestCutterStringHidesSeed(t *testing.T) {
	seed := Seed{0xde, 0xad, 0xbe, 0xef}
	s := fmt.Sprint(mustNew(t, testParams, seed))
	if strings.Contains(s, "dead") || strings.Contains(s, "222") {
		t.Errorf("String() = %q reveals the seed", s)
	}
}

// TestBlockHash: deterministic, keyed by the seed, and its top bits are
// spread over random blocks (the aligned image chunking cuts on them).
func TestBlockHash(t *testing.T) {
	c1, err := New(ImageParams(), Seed{1})
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := New(ImageParams(), Seed{2})
	rng := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 4096)
	zeroTop4, same := 0, 0
	const n = 8192
	for range n {
		for i := range block {
			block[i] = byte(rng.Uint32())
		}
		h := c1.BlockHash(block)
		if h != c1.BlockHash(block) {
			t.Fatal("BlockHash is not deterministic")
		}
		if h == c2.BlockHash(block) {
			same++
		}
		if h>>60 == 0 {
			zeroTop4++
		}
	}
	if same > 0 {
		t.Fatalf("%d of %d blocks hash alike under two seeds", same, n)
	}
	if want := n / 16; zeroTop4 < want*3/4 || zeroTop4 > want*5/4 {
		t.Fatalf("%d of %d blocks have the top 4 bits zero, want about %d", zeroTop4, n, want)
	}
	// The last sampled byte counts.
	b := bytes.Clone(block)
	b[len(b)-1] ^= 1
	if c1.BlockHash(b) == c1.BlockHash(block) {
		t.Fatal("the block's last byte does not change the hash")
	}
}

// TestCutFrom: resuming a scan anywhere before a cut (the Chunker does so
// after a refill) finds the cut Cut finds, including a cut at the very
// end of a prefix, which Cut reports as the prefix's length.
func TestCutFrom(t *testing.T) {
	c := mustNew(t, testParams, Seed{3})
	data := corpus.Text(3, 1<<20)
	for off := 0; off < len(data)-c.p.Max; {
		d := data[off:]
		want := c.Cut(d)
		for _, from := range []int{0, c.p.Min - 1, c.p.Min, (c.p.Min + want) / 2, c.p.Avg, want - 2, want - 1} {
			if from < 0 || from >= want {
				continue
			}
			if got := c.cutFrom(d, from); got != want {
				t.Fatalf("at %d: cutFrom(%d) = %d, Cut = %d", off, from, got, want)
			}
			// A prefix ending at the cut: the cut is its length.
			if got := c.cutFrom(d[:want], from); got != want {
				t.Fatalf("at %d: prefix cutFrom(%d) = %d, want %d", off, from, got, want)
			}
		}
		// Every position a scan may resume at is judged as in a
		// whole scan (the hash warmed over the full window): no cut
		// before the real one.
		for from := c.p.Min; from < want-1; from++ {
			if got := c.cutFrom(d[:from+2], from); got != from+2 {
				t.Fatalf("at %d: resumed at %d, cut at %d before the real cut %d", off, from, got, want)
			}
		}
		off += want
	}
}

package chunker

import (
	"fmt"
	"math/bits"
)

// window is the number of bytes a gear hash depends on: each byte shifts the
// hash left by one, so bit 63 depends on the last 64 bytes.
const window = 64

// normalization is FastCDC's normalization level: the mask before Avg has
// this many bits more than log2(Avg), the mask after it this many fewer.
const normalization = 2

// A Cutter decides where chunks end. It is immutable and safe for concurrent
// use; Chunkers made from it share its gear table.
type Cutter struct {
	gear         *gearTable
	p            Params
	maskS, maskL uint64
}

// New returns a Cutter for p with the gear table selected by seed.
func New(p Params, seed Seed) (*Cutter, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	lg := bits.Len(uint(p.Avg)) - 1
	return &Cutter{
		gear:  newGearTable(seed),
		p:     p,
		maskS: topBits(lg + normalization),
		maskL: topBits(lg - normalization),
	}, nil
}

// topBits returns a mask of the n most significant bits: those depend on
// the whole window, the low bits only on the last few bytes.
func topBits(n int) uint64 { return ^uint64(0) << (64 - n) }

// Params returns the size bounds c was made with.
func (c *Cutter) Params() Params { return c.p }

// Cut returns the length of the first chunk of data. If data is no longer
// than Min it is all one (final) chunk; otherwise the length is in
// (Min, Max], and it is Max or len(data) only if no cut point came earlier.
// A cut depends only on the 64 bytes before it and on the chunk's start
// (through Min and Max), which is why boundaries re-synchronize after an
// edit.
func (c *Cutter) Cut(data []byte) int { return c.cutFrom(data, 0) }

// cutFrom is Cut for data whose bytes before from are known to end no
// chunk (a Cut of a prefix of data found no cut up to there): the scan
// resumes at from. The hash needs no state carried over, as it is a
// function of the window before a position.
func (c *Cutter) cutFrom(data []byte, from int) int {
	n := len(data)
	if n <= c.p.Min {
		return n
	}
	n = min(n, c.p.Max)
	normal := min(n, c.p.Avg)
	start := max(from, c.p.Min)
	if start >= n {
		return n
	}
	g, maskS, maskL := c.gear, c.maskS, c.maskL
	var h uint64
	// Warm the hash over the window before start, so the first candidate
	// cut sees a full window, the same as if hashing had started earlier.
	for _, b := range data[start-window : start] {
		h = h<<1 + g[b]
	}
	if start < normal {
		if i, ok := scan(g, &h, data[start:normal], maskS); ok {
			return start + i
		}
		start = normal
	}
	if i, ok := scan(g, &h, data[start:n], maskL); ok {
		return start + i
	}
	return n
}

// Chunk is one chunk of a stream.
type Chunk struct {
	Offset int64  // position of the first byte in the stream
	Length int    // number of bytes
	Data   []byte // the bytes; see Chunker.Next and Boundaries for lifetime
}

// Boundaries splits data into chunks. Data of each chunk aliases data.
func (c *Cutter) Boundaries(data []byte) []Chunk {
	chunks := make([]Chunk, 0, len(data)/c.p.Avg+1)
	var off int
	for off < len(data) {
		n := c.Cut(data[off:])
		chunks = append(chunks, Chunk{Offset: int64(off), Length: n, Data: data[off : off+n]})
		off += n
	}
	return chunks
}

// String describes c without revealing the seed.
func (c *Cutter) String() string { return fmt.Sprintf("chunker.Cutter(%v)", c.p) }

// scan rolls the hash *h over s and returns the length of the prefix of s
// whose last byte leaves the hash with no bit of mask set. It rolls two bytes
// per step so the loop-carried dependency is one shift-and-add per two bytes
// (h<<2 + (g[a]<<1 + g[b])); the hash after the odd byte is computed off that
// chain, so every byte is still a candidate cut point.
func scan(g *gearTable, h *uint64, s []byte, mask uint64) (int, bool) {
	x := *h
	n := len(s)
	for len(s) >= 2 {
		a, b := g[s[0]], g[s[1]]
		s = s[2:]
		odd := x<<1 + a
		x = x<<2 + (a<<1 + b)
		if odd&mask == 0 {
			return n - len(s) - 1, true
		}
		if x&mask == 0 {
			return n - len(s), true
		}
	}
	if len(s) == 1 {
		x = x<<1 + g[s[0]]
		if x&mask == 0 {
			return n, true
		}
	}
	*h = x
	return 0, false
}

// WithParams returns a Cutter for p with c's gear table: the same secret
// seed, other size bounds. Image streams (engine/backup) use it to cut with
// bounds of their own without knowing the seed.
func (c *Cutter) WithParams(p Params) (*Cutter, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	lg := bits.Len(uint(p.Avg)) - 1
	return &Cutter{gear: c.gear, p: p, maskS: topBits(lg + normalization), maskL: topBits(lg - normalization)}, nil
}

// BlockHash is a keyed hash of a block for block-aligned chunking (disk
// images, cut only at multiples of the filesystem block): the gear hash
// over 64 bytes sampled from 8 places spread over b, so its top bits
// depend on all of them and, through the gear table, on the vault's seed.
// b must hold at least 64 bytes.
func (c *Cutter) BlockHash(b []byte) uint64 {
	step := (len(b) - 8) / 7
	var h uint64
	for i := range 8 {
		for _, x := range b[i*step : i*step+8] {
			h = h<<1 + c.gear[x]
		}
	}
	return h
}

package chunker

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrParams is returned (wrapped) for chunk size parameters the algorithm
// cannot work with.
var ErrParams = errors.New("invalid chunker parameters")

// Limits on Params, checked by Validate.
const (
	// MinMin is the smallest Min: the gear hash needs a 64-byte window
	// before the first possible cut.
	MinMin = 64
	// MinAvg is the smallest Avg: the large mask keeps log2(Avg)-2 bits.
	MinAvg = 256
	// MaxMax is the largest Max: a chunk is held in memory whole.
	MaxMax = 256 << 20
)

// Params are the chunk size bounds, in bytes. Every chunk but the last of a
// stream is at least Min and at most Max bytes long; the lengths cluster
// around Avg.
type Params struct {
	Min, Avg, Max int
}

// FileParams are the defaults for file data: 1 MiB average chunks keep the
// fingerprint index within DESIGN §7 (about one entry per MiB of unique
// data). They are a starting point that the benchmark corpus decides.
func FileParams() Params { return Params{Min: 256 << 10, Avg: 1 << 20, Max: 4 << 20} }

// ImageParams are the defaults for disk images and block devices, whose
// changes are small scattered writes: smaller chunks store less around each
// write, at the cost of 16× more index entries per byte.
func ImageParams() Params { return Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10} }

// Validate reports whether p can be used: MinMin ≤ Min < Avg < Max ≤ MaxMax,
// Avg a power of two and at least MinAvg.
func (p Params) Validate() error {
	switch {
	case p.Min < MinMin:
		return fmt.Errorf("%w: min %d < %d", ErrParams, p.Min, MinMin)
	case p.Avg < MinAvg:
		return fmt.Errorf("%w: avg %d < %d", ErrParams, p.Avg, MinAvg)
	case bits.OnesCount(uint(p.Avg)) != 1:
		return fmt.Errorf("%w: avg %d is not a power of two", ErrParams, p.Avg)
	case p.Min >= p.Avg:
		return fmt.Errorf("%w: min %d >= avg %d", ErrParams, p.Min, p.Avg)
	case p.Avg >= p.Max:
		return fmt.Errorf("%w: avg %d >= max %d", ErrParams, p.Avg, p.Max)
	case p.Max > MaxMax:
		return fmt.Errorf("%w: max %d > %d", ErrParams, p.Max, MaxMax)
	}
	return nil
}

// String formats p as "min/avg/max".
func (p Params) String() string { return fmt.Sprintf("%d/%d/%d", p.Min, p.Avg, p.Max) }

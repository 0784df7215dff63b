package md

import "time"

// Time is md's packed timestamp (ctime, utime): the low 40 bits are seconds
// since the Unix epoch, the high 24 bits microseconds (or 0; the kernel
// itself writes whole seconds).
type Time uint64

const (
	timeSecBits  = 40
	timeSecMask  = 1<<timeSecBits - 1
	timeUsecMask = 1<<24 - 1
)

// NewTime packs t with microsecond precision. Seconds before the epoch or
// beyond 2^40 are clamped: md cannot express them.
func NewTime(t time.Time) Time {
	s := t.Unix()
	switch {
	case s < 0:
		s = 0
	case s > timeSecMask:
		s = timeSecMask
	}
	us := uint64(t.Nanosecond() / 1000)
	return Time(uint64(s) | us<<timeSecBits)
}

// Seconds returns the seconds part.
func (t Time) Seconds() int64 { return int64(uint64(t) & timeSecMask) }

// Microseconds returns the microseconds part (0..2^24-1 as stored).
func (t Time) Microseconds() uint32 { return uint32(uint64(t)>>timeSecBits) & timeUsecMask }

// Time converts to a time.Time in UTC.
func (t Time) Time() time.Time {
	return time.Unix(t.Seconds(), int64(t.Microseconds())*1000).UTC()
}

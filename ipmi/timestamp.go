package ipmi

import (
	"fmt"
	"time"
)

// Timestamp is an IPMI time: seconds since 1970-01-01 UTC, except
// 0xFFFFFFFF (unspecified) and values up to 0x20000000, which count
// seconds since the BMC's initialization (its clock was never set).
type Timestamp uint32

const (
	// TimestampUnspecified is "no time".
	TimestampUnspecified Timestamp = 0xffffffff
	// timestampRelativeMax is the last "seconds since BMC init" value.
	timestampRelativeMax Timestamp = 0x20000000
)

// Time returns the absolute time; ok is false for unspecified and
// pre-init (relative) timestamps.
func (t Timestamp) Time() (time.Time, bool) {
	if t == TimestampUnspecified || t <= timestampRelativeMax {
		return time.Time{}, false
	}
	return time.Unix(int64(t), 0).UTC(), true
}

func (t Timestamp) String() string {
	if t == TimestampUnspecified {
		return "unspecified"
	}
	if tm, ok := t.Time(); ok {
		return tm.Format(time.RFC3339)
	}
	return fmt.Sprintf("pre-init +%ds", uint32(t))
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func u16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

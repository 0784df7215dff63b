package ntp

import (
	"fmt"
	"math/bits"
	"time"

	"golang.org/x/sys/unix"
)

// System is the kernel's realtime clock: clock_settime to step,
// adjtimex's phase-locked loop to slew. Steering it needs CAP_SYS_TIME.
type System struct{}

// Now reads the clock.
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Step sets CLOCK_REALTIME to now plus offset.
func (System) Step(offset time.Duration) error {
	ts := unix.NsecToTimespec(time.Now().Add(offset).UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("clock_settime: %w", err)
	}
	return nil
}

// Slew hands offset to the kernel's PLL (ADJ_OFFSET with STA_PLL, in
// nanoseconds) and clears STA_UNSYNC, which also lets the kernel copy
// the time to the RTC every 11 minutes.
func (System) Slew(offset, maxError, poll time.Duration) error {
	tx := slewTimex(offset, maxError, poll)
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("adjtimex: %w", err)
	}
	return nil
}

func slewTimex(offset, maxError, poll time.Duration) unix.Timex {
	offset = max(-maxSlew, min(maxSlew, offset))
	// The loop's time constant is the poll interval's log2 (in seconds)
	// in nanosecond mode, as ntpd sets it.
	tc := int64(0)
	if s := uint64(poll / time.Second); s > 0 {
		tc = int64(bits.Len64(s) - 1)
	}
	return unix.Timex{
		Modes:    unix.ADJ_OFFSET | unix.ADJ_STATUS | unix.ADJ_NANO | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR | unix.ADJ_TIMECONST,
		Offset:   offset.Nanoseconds(),
		Status:   unix.STA_PLL | unix.STA_NANO,
		Maxerror: maxError.Microseconds(),
		Esterror: maxError.Microseconds() / 2,
		Constant: max(0, min(10, tc)),
	}
}

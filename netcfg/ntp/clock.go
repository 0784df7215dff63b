package ntp

import (
	"time"
)

// Clock is the system clock as the client reads and steers it. System
// is the kernel's; tests use a fake.
type Clock interface {
	// Now reads the clock.
	Now() time.Time
	// After delivers the time once d has passed.
	After(d time.Duration) <-chan time.Time
	// Step moves the clock by offset at once (negative: back).
	Step(offset time.Duration) error
	// Slew steers the clock by offset gradually and tells the kernel it
	// is synchronised, to within maxError; poll is how often the client
	// measures (the kernel's loop time constant follows it).
	Slew(offset, maxError, poll time.Duration) error
}

// maxSlew is the largest offset the kernel's PLL takes in one update
// (MAXPHASE); larger offsets are clamped to it.
const maxSlew = 500 * time.Millisecond

package clock

import "time"

// Clock reads the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that delivers the time on C once d has
	// elapsed. A non-positive d fires at once.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer, the injectable form of *time.Timer.
type Timer interface {
	// C delivers one value when the timer fires. It is buffered: a timer
	// fires even if nobody is receiving yet.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped it, false if it had already fired or been stopped.
	Stop() bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }

func (r realTimer) Stop() bool { return r.t.Stop() }

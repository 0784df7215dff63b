package service

import (
	"context"
	"time"
)

// unit is the tree's record of one service. All fields after the first
// block are guarded by Tree.mu and written only by the supervision loop.
type unit struct {
	name     string
	spec     Spec // with defaults applied
	deps     []*unit
	depNames []string
	checker  HealthChecker // nil if the service has no health check

	state      State
	since      time.Time
	detail     string
	failures   int // consecutive failed runs
	restarts   int // runs started after the first, since boot
	lastErr    error
	health     *Health
	everReady  bool
	firstStart int // position in the order of first starts; 0: never started

	gen        uint64             // generation of the latest run
	run        *run               // current run, until its exit is handled
	cancelWait context.CancelFunc // backoff delay or stop-overrun watch
	stopCause  stopCause          // why the loop asked the current run to stop
	blockedBy  string             // why it may not run ("dependency raid failed"), or ""
	blockRoot  string             // the failed service at the root of blockedBy
	pending    *pendingRestart    // restart after backoff, reported when it starts
}

type stopCause uint8

const (
	stopNone stopCause = iota
	stopBlocked
	stopRestart
	stopShutdown
)

type pendingRestart struct {
	attempt int
	backoff time.Duration
}

// run is one call of a service's Run.
type run struct {
	gen     uint64
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time
	done    chan struct{} // closed when Run has returned
	err     error         // what Run returned; written before done is closed
}

func newUnit(name string, s Spec) *unit {
	u := &unit{name: name, spec: s, state: StateWaiting}
	u.checker, _ = s.Service.(HealthChecker)
	return u
}

// stopWait ends a backoff delay or a stop-overrun watch.
func (u *unit) stopWait() {
	if u.cancelWait != nil {
		u.cancelWait()
		u.cancelWait = nil
	}
}

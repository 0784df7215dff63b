package service

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"keep/appliance/events"
)

// start begins a new run of u. Called by the loop with t.mu held.
func (t *Tree) start(u *unit) {
	u.gen++
	ctx, cancel := context.WithCancel(t.base)
	r := &run{gen: u.gen, ctx: ctx, cancel: cancel, started: t.clock.Now(), done: make(chan struct{})}
	u.run, u.health = r, nil
	if u.firstStart == 0 {
		t.starts++
		u.firstStart = t.starts
	} else {
		u.restarts++
	}
	t.setState(u, StateStarting, "")
	if p := u.pending; p != nil {
		u.pending = nil
		t.log.Info("restarting "+u.name, "attempt", p.attempt, "backoff", p.backoff)
		t.emit(events.Notice, KindRestarted, u,
			fmt.Sprintf("restarting %s (attempt %d, after %s)", u.name, p.attempt, p.backoff),
			"attempt", fmt.Sprint(p.attempt), "backoff", p.backoff.String())
	} else {
		t.log.Info("starting " + u.name)
		t.emit(events.Info, KindStarted, u, "starting "+u.name)
	}
	go t.runService(u, r)
}

// runService is the goroutine of one run. The tree owns it and stops it by
// cancelling r.ctx; it reports its end through r.done and the inbox, both
// of which never block.
func (t *Tree) runService(u *unit, r *run) {
	var once sync.Once
	ready := func() {
		once.Do(func() { t.inbox.push(message{kind: msgReady, unit: u, gen: r.gen}) })
	}
	returned := false
	defer func() {
		if !returned { // runtime.Goexit inside Run
			r.err = fmt.Errorf("%w: runtime.Goexit", ErrUnexpectedExit)
		}
		r.cancel()
		close(r.done)
		t.inbox.push(message{kind: msgExited, unit: u, gen: r.gen})
	}()
	r.err = callRun(r.ctx, u.spec.Service, ready)
	returned = true
}

// callRun calls Run, turning a panic into a *PanicError.
func callRun(ctx context.Context, s Service, ready func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return s.Run(ctx, ready)
}

// after delivers m to the loop once d has elapsed on the tree's clock,
// unless the returned cancel is called first. The timer is created before
// after returns and stopped before cancel returns, so a test's fake clock
// sees exactly the waits the tree is in.
func (t *Tree) after(d time.Duration, m message) context.CancelFunc {
	timer := t.clock.NewTimer(d)
	ctx, cancel := context.WithCancel(t.auxCtx)
	t.aux.Add(1)
	go func() {
		defer t.aux.Done()
		select {
		case <-timer.C():
			t.inbox.push(m)
		case <-ctx.Done():
			timer.Stop()
		}
	}()
	return func() {
		timer.Stop()
		cancel()
	}
}

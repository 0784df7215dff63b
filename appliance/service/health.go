package service

import (
	"context"
	"fmt"
	"runtime/debug"
)

// startHealth runs u's health checks for the run r, from ready until r
// ends. Called by the loop with t.mu held.
func (t *Tree) startHealth(u *unit, r *run) {
	t.aux.Add(1)
	go func() {
		defer t.aux.Done()
		t.healthLoop(r.ctx, u, r.gen)
	}()
}

// healthLoop checks at once, then every HealthInterval. At most one check
// is in flight: one that is still running when the next is due is reported
// as ErrHealthTimeout and the loop waits for it rather than piling up
// more. The check itself runs in its own goroutine so that the loop ends
// as soon as ctx does; that goroutine ends when Health returns.
func (t *Tree) healthLoop(ctx context.Context, u *unit, gen uint64) {
	interval := u.spec.HealthInterval
	results := make(chan error, 1) // the one check in flight never blocks
	inFlight := false
	check := func() {
		inFlight = true
		go func() { results <- callHealth(ctx, u.checker) }()
	}
	report := func(err error) {
		t.inbox.push(message{kind: msgHealth, unit: u, gen: gen, err: err, at: t.clock.Now()})
	}
	check()
	for {
		timer := t.clock.NewTimer(interval)
		for due := false; !due; {
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case err := <-results:
				inFlight = false
				report(err)
			case <-timer.C():
				due = true
			}
		}
		if inFlight {
			report(fmt.Errorf("%w: no answer within %s", ErrHealthTimeout, interval))
			continue
		}
		check()
	}
}

func callHealth(ctx context.Context, h HealthChecker) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h.Health(ctx)
}

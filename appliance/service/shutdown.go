package service

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"keep/appliance/events"
)

// shutdown is the last phase of Run: nothing starts any more, and the
// services that have a run are stopped one at a time, latest first start
// first. A service starts only after its dependencies were ready, so that
// order stops every dependent before what it depends on, and it is the
// same on every boot with the same readiness order.
func (t *Tree) shutdown(reason string) error {
	t.stopOnce.Do(func() { close(t.stopReq) }) // tells waiting Restart calls, whatever the trigger
	t.mu.Lock()
	t.phase = phaseStopping
	t.log.Info("shutting down services", "reason", reason)
	for _, m := range t.inbox.take() {
		t.handle(m)
	}
	var order []*unit
	for _, u := range t.units {
		u.stopWait()
		u.pending = nil
		if u.run != nil {
			order = append(order, u)
		}
	}
	slices.SortFunc(order, func(a, b *unit) int { return cmp.Compare(b.firstStart, a.firstStart) })
	t.mu.Unlock()
	t.flush()

	var abandoned []string
	for _, u := range order {
		if !t.stopForShutdown(u) {
			abandoned = append(abandoned, u.name)
		}
	}

	t.mu.Lock()
	for _, u := range t.units {
		if u.run == nil && u.state != StateFailed {
			t.setState(u, StateStopped, "")
		}
	}
	t.phase = phaseDone
	t.auxCancel()
	t.mu.Unlock()
	t.flush()
	t.aux.Wait()
	if len(abandoned) > 0 {
		t.runErr = fmt.Errorf("shutdown: %w: %s", ErrStopTimeout, strings.Join(abandoned, ", "))
	}
	t.log.Info("all services stopped", "abandoned", len(abandoned))
	close(t.done)
	return t.runErr
}

// stopForShutdown cancels u's run and waits up to its StopTimeout for Run
// to return. It reports false if it had to abandon the run.
func (t *Tree) stopForShutdown(u *unit) bool {
	t.mu.Lock()
	r := u.run
	u.stopCause = stopShutdown
	t.setState(u, StateStopping, "shutdown")
	t.log.Info("stopping " + u.name)
	t.emit(events.Info, KindStopping, u, "stopping "+u.name, "reason", "shutdown")
	t.mu.Unlock()
	t.flush()

	r.cancel()
	timer := t.clock.NewTimer(u.spec.StopTimeout)
	defer timer.Stop()
	select {
	case <-r.done:
		t.mu.Lock()
		u.run = nil
		t.logStopped(u, r.err)
		t.setState(u, StateStopped, "")
		t.mu.Unlock()
		t.flush()
		return true
	case <-timer.C():
		t.mu.Lock()
		detail := fmt.Sprintf("abandoned: did not stop within %s", u.spec.StopTimeout)
		t.setState(u, StateStopping, detail)
		t.log.Error("abandoned "+u.name+": did not stop in time", "stop_timeout", u.spec.StopTimeout)
		t.emit(events.Error, KindStopTimeout, u,
			fmt.Sprintf("%s did not stop within %s; abandoned", u.name, u.spec.StopTimeout),
			"stop_timeout", u.spec.StopTimeout.String(), "abandoned", "true")
		t.mu.Unlock()
		t.flush()
		return false
	}
}

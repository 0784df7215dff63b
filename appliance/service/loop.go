package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"keep/appliance/events"
)

// handle applies one message. Called by the loop with t.mu held. While
// the tree is stopping only exits and restart requests are handled.
func (t *Tree) handle(m message) {
	if t.phase != phaseRunning {
		switch m.kind {
		case msgExited:
			t.handleExit(m.unit, m.gen)
		case msgRestart:
			m.reply <- fmt.Errorf("restart %s: %w", m.unit.name, ErrNotRunning)
		}
		return
	}
	switch m.kind {
	case msgReady:
		t.handleReady(m.unit, m.gen)
	case msgExited:
		t.handleExit(m.unit, m.gen)
	case msgBackoffDone:
		t.handleBackoffDone(m.unit, m.gen)
	case msgStopOverrun:
		t.handleStopOverrun(m.unit, m.gen)
	case msgHealth:
		t.handleHealth(m)
	case msgRestart:
		m.reply <- t.handleRestart(m.unit)
	}
}

func current(u *unit, gen uint64) bool { return u.run != nil && u.run.gen == gen }

func (t *Tree) handleReady(u *unit, gen uint64) {
	if !current(u, gen) || u.state != StateStarting {
		return
	}
	t.setState(u, StateRunning, "")
	u.everReady = true
	t.log.Info(u.name + " ready")
	t.emit(events.Info, KindReady, u, u.name+" is ready")
	if u.checker != nil {
		t.startHealth(u, u.run)
	}
	t.checkAllReady()
}

func (t *Tree) checkAllReady() {
	if t.allReady {
		return
	}
	for _, u := range t.units {
		if !u.everReady {
			return
		}
	}
	t.allReady = true // flush closes Ready after emitting the event
	t.log.Info("all services ready")
	t.emit(events.Notice, KindAllReady, nil, "all services are ready")
}

// handleExit reaps a run. A run we asked to stop ends cleanly; any other
// return is a failure, restarted with backoff or, after MaxRestarts
// consecutive failures, given up on.
func (t *Tree) handleExit(u *unit, gen uint64) {
	if !current(u, gen) {
		return
	}
	r := u.run
	u.run = nil
	u.stopWait()
	switch {
	case u.state == StateStopping:
		t.logStopped(u, r.err)
		cause := u.stopCause
		u.stopCause = stopNone
		if cause == stopRestart {
			u.failures, u.pending = 0, nil
		}
		next := StateWaiting
		if t.phase != phaseRunning {
			next = StateStopped
		}
		t.setState(u, next, "")
		return
	case t.phase != phaseRunning:
		t.log.Info(u.name+" exited during shutdown", "error", r.err)
		t.setState(u, StateStopped, "")
		return
	}

	err := r.err
	if err == nil {
		err = ErrUnexpectedExit
	}
	u.lastErr = err
	pol := u.spec.Restart
	if ran := t.clock.Now().Sub(r.started); ran >= pol.StableAfter {
		u.failures = 0
	}
	u.failures++
	var pe *PanicError
	if errors.As(err, &pe) {
		t.log.Error(u.name+" panicked", "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
	failures := strconv.Itoa(u.failures)
	if pol.MaxRestarts > 0 && u.failures >= pol.MaxRestarts {
		t.setState(u, StateFailed, fmt.Sprintf("gave up after %d consecutive failures", u.failures))
		t.log.Error(u.name+" failed; giving up", "failures", u.failures, "error", err)
		t.emit(events.Error, KindFailed, u,
			fmt.Sprintf("%s failed %d times in a row and will not be restarted: %v", u.name, u.failures, err),
			"error", err.Error(), "failures", failures)
		return
	}
	d := pol.Backoff(u.failures)
	u.pending = &pendingRestart{attempt: u.failures, backoff: d}
	t.setState(u, StateBackoff, fmt.Sprintf("restart %d in %s", u.failures, d))
	u.cancelWait = t.after(d, message{kind: msgBackoffDone, unit: u, gen: u.gen})
	t.log.Warn(u.name+" exited; restarting after backoff", "error", err, "failures", u.failures, "backoff", d)
	t.emit(events.Warning, KindExited, u,
		fmt.Sprintf("%s exited: %v; restart %d in %s", u.name, err, u.failures, d),
		"error", err.Error(), "failures", failures, "backoff", d.String(), "panic", strconv.FormatBool(pe != nil))
}

func (t *Tree) logStopped(u *unit, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		t.log.Info("stopped "+u.name, "error", err)
		t.emit(events.Info, KindStopped, u, u.name+" stopped: "+err.Error(), "error", err.Error())
		return
	}
	t.log.Info("stopped " + u.name)
	t.emit(events.Info, KindStopped, u, u.name+" stopped")
}

func (t *Tree) handleBackoffDone(u *unit, gen uint64) {
	if u.state != StateBackoff || u.gen != gen {
		return
	}
	u.cancelWait = nil
	t.setState(u, StateWaiting, "")
}

func (t *Tree) handleStopOverrun(u *unit, gen uint64) {
	if !current(u, gen) || u.state != StateStopping {
		return
	}
	u.cancelWait = nil
	t.log.Error(u.name+" did not stop in time; it will not be started again until it returns",
		"stop_timeout", u.spec.StopTimeout)
	t.emit(events.Error, KindStopTimeout, u,
		fmt.Sprintf("%s did not stop within %s", u.name, u.spec.StopTimeout),
		"stop_timeout", u.spec.StopTimeout.String())
}

func (t *Tree) handleHealth(m message) {
	u := m.unit
	if !current(u, m.gen) || u.state != StateRunning {
		return
	}
	prev := u.health
	h := &Health{OK: m.err == nil, CheckedAt: m.at}
	if m.err != nil {
		h.Message = m.err.Error()
	}
	u.health = h
	switch {
	case h.OK && prev == nil:
		t.emit(events.Info, KindHealthy, u, u.name+" is healthy")
	case h.OK && !prev.OK:
		t.log.Info(u.name + " is healthy again")
		t.emit(events.Notice, KindHealthy, u, u.name+" is healthy again")
	case !h.OK && (prev == nil || prev.OK):
		t.log.Warn(u.name+" is unhealthy", "error", h.Message)
		t.emit(events.Warning, KindUnhealthy, u, u.name+" is unhealthy: "+h.Message, "error", h.Message)
	}
}

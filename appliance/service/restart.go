package service

import (
	"context"
	"fmt"

	"keep/appliance/events"
)

// Restart is the operator's restart, for the management API. For a failed
// service it clears the failure count and starts it again (its blocked
// dependents follow once it is ready); for a service in backoff it starts
// it now; for a starting or running service it stops it (StopTimeout
// applies) and starts it again without counting a failure. It returns once
// the restart is under way, not when the service is ready. Errors:
// ErrUnknownService, ErrNotRunning (tree not running), ErrNotRestartable
// (waiting, blocked or already stopping).
func (t *Tree) Restart(ctx context.Context, name string) error {
	u, ok := t.byName[name]
	if !ok {
		return fmt.Errorf("restart %q: %w", name, ErrUnknownService)
	}
	t.mu.Lock()
	running := t.phase == phaseRunning
	t.mu.Unlock()
	if !running {
		return fmt.Errorf("restart %s: %w", name, ErrNotRunning)
	}
	reply := make(chan error, 1)
	t.inbox.push(message{kind: msgRestart, unit: u, reply: reply})
	select {
	case err := <-reply:
		return err
	case <-t.stopReq:
		return fmt.Errorf("restart %s: %w", name, ErrNotRunning)
	case <-t.done:
		return fmt.Errorf("restart %s: %w", name, ErrNotRunning)
	case <-ctx.Done():
		return ctxErr("restart "+name, ctx)
	}
}

// handleRestart applies Restart. Called by the loop with t.mu held.
func (t *Tree) handleRestart(u *unit) error {
	switch u.state {
	case StateFailed, StateBackoff, StateStarting, StateRunning:
	default:
		return fmt.Errorf("restart %s: %w: it is %s", u.name, ErrNotRestartable, u.state)
	}
	t.log.Info("restart of " + u.name + " requested")
	t.emit(events.Notice, KindRestartRequested, u, "restart of "+u.name+" requested")
	if u.state == StateStarting || u.state == StateRunning {
		t.requestStop(u, stopRestart, "restart requested")
		return nil
	}
	u.stopWait()
	u.failures, u.pending = 0, nil
	t.setState(u, StateWaiting, "restart requested")
	return nil
}

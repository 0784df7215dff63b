package service

import (
	"context"
	"fmt"

	"keep/appliance/events"
)

// EventSource is the Source of every event the tree emits; the service
// concerned is in Fields["service"].
const EventSource = "supervisor"

// Event kinds emitted by the tree. Alerting matches on these; they are
// stable.
const (
	KindStarted          = "service.started"           // info: first run (or after a reset) began
	KindReady            = "service.ready"             // info: the run reported ready
	KindExited           = "service.exited"            // warning: a run failed; fields error, failures, backoff
	KindRestarted        = "service.restarted"         // notice: a run began after backoff; fields attempt, backoff
	KindFailed           = "service.failed"            // error: gave up after MaxRestarts; fields error, failures
	KindBlocked          = "service.blocked"           // warning: a dependency failed; field reason
	KindUnblocked        = "service.unblocked"         // info: the dependency is back
	KindRestartRequested = "service.restart_requested" // notice: Restart was called
	KindStopping         = "service.stopping"          // info
	KindStopped          = "service.stopped"           // info; field error if Run returned one
	KindStopTimeout      = "service.stop_timeout"      // error: did not stop within StopTimeout
	KindHealthy          = "service.healthy"           // info/notice: first passing check, or recovery
	KindUnhealthy        = "service.unhealthy"         // warning: a check failed; field error
	KindAllReady         = "supervisor.ready"          // notice: every service has been ready
)

// emit queues an event; the loop emits queued events after releasing
// t.mu, in order. Called with t.mu held.
func (t *Tree) emit(sev events.Severity, kind string, u *unit, msg string, kv ...string) {
	fields := make(map[string]string, 1+len(kv)/2)
	if u != nil {
		fields["service"] = u.name
	}
	for i := 0; i+1 < len(kv); i += 2 {
		fields[kv[i]] = kv[i+1]
	}
	t.outbox = append(t.outbox, events.Event{
		Severity: sev, Source: EventSource, Kind: kind, Message: msg, Fields: fields,
	})
}

// flush hands queued events to the emitter, then closes Ready if the tree
// became ready, so that whoever sees Ready closed also finds the
// supervisor.ready event. Only the loop's goroutine calls it, so events
// leave in the order they were queued.
func (t *Tree) flush() {
	t.mu.Lock()
	out := t.outbox
	t.outbox = nil
	closeReady := t.allReady && !t.readyClosed
	t.readyClosed = t.allReady
	t.mu.Unlock()
	for _, e := range out {
		t.emitter.Emit(e)
	}
	if closeReady {
		close(t.readyCh)
	}
}

// setState moves u to s, stamping Since when the state changes. Called
// with t.mu held.
func (t *Tree) setState(u *unit, s State, detail string) {
	if u.state != s {
		u.state = s
		u.since = t.clock.Now()
	}
	u.detail = detail
}

func ctxErr(op string, ctx context.Context) error {
	return fmt.Errorf("%s: %w", op, ctx.Err())
}

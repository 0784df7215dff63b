package service

import (
	"context"

	"keep/appliance/events"
)

// Service is one long-running part of the appliance, supervised by a Tree.
type Service interface {
	// Name identifies the service in dependencies, logs, events and the
	// API. It must be non-empty, unique within a tree and never change.
	Name() string

	// Run runs the service until ctx is cancelled or the service fails.
	// The tree never runs two calls of one service at once: a new run
	// starts only after the previous one has returned.
	//
	// Ready: Run calls ready once the service is up (mounted, listening,
	// connected); that is what lets the services that depend on it start,
	// and what boot readiness waits for. Calling ready again, or after Run
	// returned, is harmless; ready never blocks.
	//
	// Orderly stop: when ctx is cancelled, Run releases what it holds and
	// returns within its Spec.StopTimeout. What it returns then is logged,
	// never counted as a failure (nil or ctx.Err() is usual). A run that
	// overruns the timeout at shutdown is abandoned: the shutdown goes on
	// without it.
	//
	// Failure: any return before ctx is cancelled is a failure, nil
	// included (ErrUnexpectedExit), and so is a panic (recovered; the
	// stack goes to the log; ErrPanic). The tree restarts a failed
	// service with backoff per Spec.Restart and, after MaxRestarts
	// consecutive failures, marks it failed and stops its dependents. Run
	// must not exit the process.
	Run(ctx context.Context, ready func()) error
}

// HealthChecker is implemented by services that can check themselves while
// running.
type HealthChecker interface {
	// Health returns nil if the running service works, otherwise an error
	// saying what is wrong (shown to the NOC as is). The tree calls it
	// right after the service reports ready, then every
	// Spec.HealthInterval, never concurrently with itself and never before
	// ready. It must honour ctx (cancelled when the run ends) and return
	// quickly; a check still running when the next is due is reported as
	// ErrHealthTimeout until it returns. A panic is recovered and reported
	// as unhealthy. The result shows in Status and, on change, as
	// service.healthy / service.unhealthy events; the tree does not restart
	// an unhealthy service (a service that cannot recover fails itself by
	// returning from Run).
	Health(ctx context.Context) error
}

// Emitter receives the tree's events; *events.Journal is one. Emit must
// not block: the tree calls it from its supervision loop.
type Emitter interface {
	Emit(events.Event)
}

// Package service is the appliance's service tree: PID 1's supervisor. It
// starts the services (RAID, BMC, network, tunnel, engine, API) in
// dependency order, restarts the ones that fail, contains their panics,
// checks their health, reports everything as events and in Status, and
// stops them in reverse order at shutdown. A failing service never takes
// the box down: it is restarted with backoff, then given up on, and only
// the services that depend on it stop with it.
//
// # Lifecycle of a service
//
//	state    | entered when                                | leaves for
//	---------+---------------------------------------------+---------------------------------------
//	waiting  | New; backoff elapsed; unblocked; Restart    | starting (all deps running), blocked
//	starting | Run called                                  | running (ready), backoff or failed
//	         |                                             | (Run returned), stopping
//	running  | Run called ready                            | backoff or failed (Run returned),
//	         |                                             | stopping
//	backoff  | Run failed, fewer than MaxRestarts in a row | waiting (delay elapsed or Restart),
//	         |                                             | blocked
//	failed   | Run failed MaxRestarts times in a row       | waiting (Restart)
//	stopping | a dep failed, Restart, or shutdown          | waiting or blocked (Run returned),
//	         |                                             | stopped (shutdown)
//	blocked  | a dependency failed or is itself blocked    | waiting (the dependency is back)
//	stopped  | shutdown                                    | (a tree runs once)
//
// "Run failed" means Run returned, with any error or nil, or panicked,
// without having been asked to stop. A run that lasted StableAfter or
// longer resets the consecutive-failure count first. The delay before
// restart n is InitialBackoff × Multiplier^(n-1), capped at MaxBackoff.
//
// # Invariants
//
//   - One supervision loop (Run's goroutine) owns all state; services,
//     timers and health checks talk to it through a mailbox that never
//     blocks, so a service calling ready or returning can never wait on a
//     loop that is waiting on it. Status reads a snapshot under a mutex.
//   - At most one run of a service exists: a new run starts only after the
//     previous Run returned. A service that overruns its StopTimeout during
//     normal operation is reported (service.stop_timeout) and waited for;
//     only at shutdown is it abandoned, the one goroutine the tree cannot
//     stop.
//   - A service starts only when every dependency is running (has called
//     ready). A dependency that is restarting does not stop its running
//     dependents; a dependency that failed stops them, and they stay
//     blocked, with the root cause in Detail, until it is restarted.
//   - Shutdown stops services one at a time in the reverse of the order
//     they first started, which puts every dependent before its
//     dependencies; "stopping X" / "stopped X" go to the log in that order.
//   - Exactly one service.failed event per give-up. Every event has Source
//     "supervisor" and the service in Fields["service"]; kinds are the
//     Kind constants.
//   - All waiting goes through the injected clock.Clock; nothing sleeps.
//     Run's context is not the services' context: cancelling it asks for
//     the orderly shutdown, it does not cancel every service at once.
//
// # Testing
//
// Tests drive a real Tree with a fake clock (appliance/clock.Fake) and
// fake services whose every run is scripted by the test (ready now or on
// cue, fail, panic, ignore cancellation). They synchronise on the events
// the tree emits and on the timers it creates on the fake clock (which also
// shows the exact backoff delays asked for), never on sleeps, and pass
// with -race -count=20.
package service

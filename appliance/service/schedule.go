package service

import (
	"fmt"
	"strings"

	"keep/appliance/events"
)

// schedule brings every service in line with its dependencies, walking
// the tree in dependency order so that a failure propagates to all
// dependents in one pass:
//
//   - a service with a failed (or blocked) dependency is blocked: stopped
//     if it runs, its backoff cancelled, not started;
//   - a blocked service whose dependencies recovered waits again;
//   - a waiting service starts once all its dependencies are running
//     (have reported ready).
//
// A dependency that is merely restarting (backoff, stopping) does not stop
// its running dependents; they are expected to ride out a short outage.
// Called by the loop with t.mu held.
func (t *Tree) schedule() {
	for _, u := range t.units {
		t.updateBlocked(u)
		if u.state == StateBlocked && u.blockedBy == "" {
			t.setState(u, StateWaiting, "")
		}
		switch u.state {
		case StateWaiting:
			if u.blockedBy != "" {
				t.setState(u, StateBlocked, "blocked: "+u.blockedBy)
				continue
			}
			if waiting := notRunning(u.deps); len(waiting) > 0 {
				u.detail = "waiting for " + strings.Join(waiting, ", ")
				continue
			}
			t.start(u)
		case StateBlocked:
			u.detail = "blocked: " + u.blockedBy
		case StateStarting, StateRunning:
			if u.blockedBy != "" {
				t.requestStop(u, stopBlocked, "blocked: "+u.blockedBy)
			}
		case StateBackoff:
			if u.blockedBy != "" {
				u.stopWait()
				t.setState(u, StateBlocked, "blocked: "+u.blockedBy)
			}
		}
	}
}

// updateBlocked recomputes why u may not run, from its dependencies
// (already updated: they come first in t.units), and reports changes.
func (t *Tree) updateBlocked(u *unit) {
	reason, root := "", ""
	for _, d := range u.deps {
		if d.state == StateFailed {
			reason, root = fmt.Sprintf("dependency %s failed", d.name), d.name
			break
		}
	}
	if reason == "" {
		for _, d := range u.deps {
			if d.blockedBy != "" {
				reason = fmt.Sprintf("dependency %s is blocked (%s failed)", d.name, d.blockRoot)
				root = d.blockRoot
				break
			}
		}
	}
	was := u.blockedBy
	u.blockedBy, u.blockRoot = reason, root
	switch {
	case reason != "" && was == "":
		t.log.Warn(u.name+" blocked", "reason", reason)
		t.emit(events.Warning, KindBlocked, u, u.name+" blocked: "+reason, "reason", reason, "root", root)
	case reason == "" && was != "":
		t.log.Info(u.name + " unblocked")
		t.emit(events.Info, KindUnblocked, u, u.name+" unblocked")
	}
}

func notRunning(deps []*unit) []string {
	var names []string
	for _, d := range deps {
		if d.state != StateRunning {
			names = append(names, d.name)
		}
	}
	return names
}

// requestStop cancels u's run during normal operation and watches for it
// overrunning its StopTimeout. The run's exit moves u on. Called with
// t.mu held.
func (t *Tree) requestStop(u *unit, cause stopCause, detail string) {
	u.stopCause = cause
	t.setState(u, StateStopping, detail)
	t.log.Info("stopping "+u.name, "reason", detail)
	t.emit(events.Info, KindStopping, u, "stopping "+u.name+": "+detail, "reason", detail)
	u.run.cancel()
	u.stopWait()
	u.cancelWait = t.after(u.spec.StopTimeout, message{kind: msgStopOverrun, unit: u, gen: u.gen})
}

package service

import (
	"slices"
	"time"
)

// Health is the latest health check of a running service.
type Health struct {
	OK        bool      `json:"ok"`
	Message   string    `json:"message,omitempty"` // the check's error when not OK
	CheckedAt time.Time `json:"checked_at"`
}

// ServiceStatus is one service as the management API shows it.
type ServiceStatus struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Since is when the service entered State.
	Since time.Time `json:"since"`
	// Detail says why the service is in State when that is not obvious:
	// "waiting for raid", "blocked: dependency raid failed", "restart 3 in
	// 4s", "gave up after 10 consecutive failures".
	Detail string `json:"detail,omitempty"`
	// Restarts counts runs started after the first, since boot.
	Restarts int `json:"restarts"`
	// Failures counts consecutive failed runs (reset by a stable run).
	Failures int `json:"failures"`
	// LastError is the error of the last failed run.
	LastError string `json:"last_error,omitempty"`
	// Health is the latest check of the current run; absent for services
	// without a health check and before the first check.
	Health *Health `json:"health,omitempty"`
	// Ready reports whether the current run has reported ready.
	Ready bool     `json:"ready"`
	Deps  []string `json:"deps"`
}

// Status returns every service in dependency order (each after its
// dependencies, ties in declaration order): the same order every call.
func (t *Tree) Status() []ServiceStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ServiceStatus, 0, len(t.units))
	for _, u := range t.units {
		out = append(out, t.statusLocked(u))
	}
	return out
}

// NotReady returns the services that are not running-and-ready, with the
// reason in Detail: what a boot that did not reach ready reports.
func (t *Tree) NotReady() []ServiceStatus {
	return slices.DeleteFunc(t.Status(), func(s ServiceStatus) bool { return s.Ready })
}

func (t *Tree) statusLocked(u *unit) ServiceStatus {
	s := ServiceStatus{
		Name:     u.name,
		State:    u.state,
		Since:    u.since,
		Detail:   u.detail,
		Restarts: u.restarts,
		Failures: u.failures,
		Ready:    u.state == StateRunning,
		Deps:     append([]string{}, u.depNames...),
	}
	if u.lastErr != nil {
		s.LastError = u.lastErr.Error()
	}
	if u.health != nil {
		h := *u.health
		s.Health = &h
	}
	return s
}

package service

import "fmt"

// State is where a service is in its lifecycle; see the package doc.
type State uint8

// States.
const (
	StateWaiting  State = iota // waiting for its dependencies to be ready
	StateStarting              // Run called, ready not yet reported
	StateRunning               // ready reported
	StateBackoff               // failed; restart scheduled
	StateFailed                // gave up after MaxRestarts consecutive failures
	StateStopping              // asked to stop, Run has not returned yet
	StateStopped               // stopped by shutdown
	StateBlocked               // a dependency failed (directly or further down)
)

// name returns the state's name, "" if it is not defined.
func (s State) name() string {
	switch s {
	case StateWaiting:
		return "waiting"
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateBackoff:
		return "backoff"
	case StateFailed:
		return "failed"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	case StateBlocked:
		return "blocked"
	}
	return ""
}

func (s State) String() string {
	if n := s.name(); n != "" {
		return n
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText encodes the state as its name, for the API.
func (s State) MarshalText() ([]byte, error) {
	n := s.name()
	if n == "" {
		return nil, fmt.Errorf("marshal %s: unknown state", s)
	}
	return []byte(n), nil
}

// UnmarshalText decodes a state name, for API clients.
func (s *State) UnmarshalText(b []byte) error {
	for v := StateWaiting; v <= StateBlocked; v++ {
		if v.name() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown service state %q", b)
}

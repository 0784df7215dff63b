package events

import (
	"fmt"
	"strings"
)

// Severity orders events from Debug (least) to Critical (most). The zero
// value is "unset": Emit records an unset severity as Info, and a Filter
// with an unset MinSeverity matches everything.
type Severity uint8

// Severities, in increasing order.
const (
	Debug Severity = iota + 1
	Info
	Notice
	Warning
	Error
	Critical
)

// name returns the severity's name, "" if it is not defined.
func (s Severity) name() string {
	switch s {
	case Debug:
		return "debug"
	case Info:
		return "info"
	case Notice:
		return "notice"
	case Warning:
		return "warning"
	case Error:
		return "error"
	case Critical:
		return "critical"
	}
	return ""
}

// Valid reports whether s is one of the defined severities.
func (s Severity) Valid() bool { return s >= Debug && s <= Critical }

// String returns the lower-case name, e.g. "warning".
func (s Severity) String() string {
	if !s.Valid() {
		return fmt.Sprintf("severity(%d)", uint8(s))
	}
	return s.name()
}

// MarshalText encodes s as its name; an undefined severity is an error.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("marshal %s: %w", s, ErrBadSeverity)
	}
	return []byte(s.name()), nil
}

// UnmarshalText accepts what ParseSeverity accepts.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity parses a severity name, case-insensitively, for CLI and
// API filters. It also accepts the syslog-style short forms "warn", "err"
// and "crit".
func ParseSeverity(name string) (Severity, error) {
	switch n := strings.ToLower(strings.TrimSpace(name)); n {
	case "warn":
		return Warning, nil
	case "err":
		return Error, nil
	case "crit":
		return Critical, nil
	default:
		for s := Debug; s <= Critical; s++ {
			if s.name() == n {
				return s, nil
			}
		}
	}
	return 0, fmt.Errorf("parse severity %q: %w", name, ErrBadSeverity)
}

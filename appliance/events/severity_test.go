package events_test

import (
	"encoding/json"
	"errors"
	"testing"

	"keep/appliance/events"
)

func TestSeverityNamesRoundTrip(t *testing.T) {
	all := []events.Severity{events.Debug, events.Info, events.Notice, events.Warning, events.Error, events.Critical}
	names := []string{"debug", "info", "notice", "warning", "error", "critical"}
	for i, s := range all {
		if i > 0 && !(all[i-1] < s) {
			t.Errorf("%v is not above %v", s, all[i-1])
		}
		if s.String() != names[i] {
			t.Errorf("String(%d) = %q, want %q", s, s.String(), names[i])
		}
		b, err := json.Marshal(s)
		if err != nil || string(b) != `"`+names[i]+`"` {
			t.Errorf("Marshal(%v) = %s, %v", s, b, err)
		}
		var back events.Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
}

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		in   string
		want events.Severity
		ok   bool
	}{
		{"debug", events.Debug, true},
		{"INFO", events.Info, true},
		{" Notice ", events.Notice, true},
		{"warn", events.Warning, true},
		{"warning", events.Warning, true},
		{"err", events.Error, true},
		{"crit", events.Critical, true},
		{"critical", events.Critical, true},
		{"", 0, false},
		{"fatal", 0, false},
		{"3", 0, false},
	}
	for _, tt := range tests {
		got, err := events.ParseSeverity(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, events.ErrBadSeverity) {
			t.Errorf("ParseSeverity(%q) error %v is not ErrBadSeverity", tt.in, err)
		}
	}
}

func TestInvalidSeverityDoesNotMarshal(t *testing.T) {
	for _, s := range []events.Severity{0, 7, 255} {
		if _, err := s.MarshalText(); !errors.Is(err, events.ErrBadSeverity) {
			t.Errorf("MarshalText(%d) error = %v, want ErrBadSeverity", s, err)
		}
		if s.Valid() {
			t.Errorf("%d reported valid", s)
		}
	}
}

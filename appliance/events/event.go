package events

import (
	"maps"
	"strings"
	"time"
)

// Event is one entry of the journal. Emit assigns Seq, Boot and Time;
// everything else is the emitter's.
type Event struct {
	// Seq numbers the events of one boot from 1, without gaps.
	Seq uint64 `json:"seq"`
	// Boot identifies the boot that emitted the event; Seq restarts with
	// every boot, so (Boot, Seq) identifies an event in the history.
	Boot string `json:"boot,omitempty"`
	// Time is when the journal received the event (injected clock).
	Time     time.Time `json:"time"`
	Severity Severity  `json:"severity"`
	// Source is the service or subsystem that emitted it: "supervisor",
	// "raid", "ipsec", …
	Source string `json:"source"`
	// Kind is a stable machine name, dotted: "service.failed",
	// "raid.degraded". Alerting matches on it; never reword it.
	Kind string `json:"kind"`
	// Message is for a human and may change between releases.
	Message string `json:"message"`
	// Fields carries structured detail (device, service, error, …). The
	// journal keeps its own copy; events it hands out carry their own copy
	// too.
	Fields map[string]string `json:"fields,omitempty"`
}

func (e Event) clone() Event {
	e.Fields = maps.Clone(e.Fields)
	return e
}

// Filter selects events. The zero Filter matches every event.
type Filter struct {
	// MinSeverity keeps events at least this severe.
	MinSeverity Severity
	// Source keeps events from exactly this source.
	Source string
	// Kind keeps events whose kind starts with this prefix ("raid."
	// matches "raid.degraded").
	Kind string
	// Boot keeps events of exactly this boot (useful on History).
	Boot string
	// Since keeps events at or after this time.
	Since time.Time
	// AfterSeq keeps events with a larger Seq. Seq restarts every boot:
	// on History combine it with Boot.
	AfterSeq uint64
	// Limit caps the number of events returned (0: no cap). With AfterSeq
	// set it keeps the oldest Limit matches, so a poller paging forward
	// never skips an event; otherwise it keeps the newest (a tail).
	// Results are always oldest first.
	Limit int
}

// Match reports whether e passes every condition of f except Limit.
func (f Filter) Match(e Event) bool {
	switch {
	case f.MinSeverity != 0 && e.Severity < f.MinSeverity:
		return false
	case f.Source != "" && e.Source != f.Source:
		return false
	case f.Kind != "" && !strings.HasPrefix(e.Kind, f.Kind):
		return false
	case f.Boot != "" && e.Boot != f.Boot:
		return false
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case e.Seq <= f.AfterSeq:
		return false
	}
	return true
}

// limiter applies Filter.Limit to a stream of matches arriving oldest
// first.
type limiter struct {
	f   Filter
	out []Event
}

// add reports whether more input can still change the result.
func (l *limiter) add(e Event) bool {
	if !l.f.Match(e) {
		return true
	}
	l.out = append(l.out, e.clone())
	if l.f.Limit <= 0 {
		return true
	}
	if l.f.AfterSeq > 0 {
		return len(l.out) < l.f.Limit
	}
	if len(l.out) > 2*l.f.Limit { // keep memory bounded on long histories
		l.out = append(l.out[:0], l.out[len(l.out)-l.f.Limit:]...)
	}
	return true
}

func (l *limiter) result() []Event {
	if l.f.Limit > 0 && len(l.out) > l.f.Limit {
		l.out = l.out[len(l.out)-l.f.Limit:]
	}
	if l.out == nil {
		return []Event{}
	}
	return l.out
}

package logring

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Line is one log record.
type Line struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Logger  string            `json:"logger"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Ring is a bounded, concurrency-safe buffer of log lines.
type Ring struct {
	mu      sync.Mutex
	level   hclog.Level
	now     func() time.Time
	buf     []Line
	next    int // index the next line is written at
	full    bool
	seq     uint64
	dropped uint64
}

// New returns a ring holding up to capacity lines at level or above.
// now stamps lines; pass time.Now outside tests.
func New(capacity int, level hclog.Level, now func() time.Time) *Ring {
	if capacity < 1 {
		capacity = 1
	}
	return &Ring{buf: make([]Line, capacity), level: level, now: now}
}

// Accept implements hclog.SinkAdapter.
func (r *Ring) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	if level < r.level {
		return
	}
	var fields map[string]string
	for i := 0; i+1 < len(args); i += 2 {
		if fields == nil {
			fields = make(map[string]string, len(args)/2)
		}
		fields[fmt.Sprint(args[i])] = fmt.Sprint(args[i+1])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if r.full {
		r.dropped++
	}
	r.buf[r.next] = Line{Seq: r.seq, Time: r.now(), Level: level.String(), Logger: name, Message: msg, Fields: fields}
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Query returns up to limit of the newest lines (all when limit <= 0),
// oldest first, keeping only those whose logger is named logger or a
// sub-logger of it ("" keeps all), and the number of lines dropped from
// the ring since boot.
func (r *Ring) Query(logger string, limit int) (lines []Line, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	for i := n - 1; i >= 0 && (limit <= 0 || len(lines) < limit); i-- {
		l := r.buf[(r.next-1-(n-1-i)+len(r.buf))%len(r.buf)]
		if matches(l.Logger, logger) {
			lines = append(lines, l)
		}
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines, r.dropped
}

// matches reports whether a logger name is want or below it. Names are
// hclog's dotted paths ("keep.network"); want may omit the root.
func matches(name, want string) bool {
	if want == "" || name == want {
		return true
	}
	for _, n := range []string{name, name[strings.IndexByte(name, '.')+1:]} {
		if n == want || strings.HasPrefix(n, want+".") {
			return true
		}
	}
	return false
}

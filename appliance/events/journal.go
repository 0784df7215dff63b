package events

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"keep/appliance/clock"
)

// Defaults for Options fields left zero.
const (
	DefaultCapacity         = 10000
	DefaultSubscriberBuffer = 256
	DefaultMaxFileBytes     = 32 << 20
)

// Options configure a Journal. The zero value is usable.
type Options struct {
	// Capacity is how many events the in-memory ring keeps
	// (DefaultCapacity if zero).
	Capacity int
	// Clock stamps events (clock.Real() if nil).
	Clock clock.Clock
	// Boot identifies this boot in every event (random if empty).
	Boot string
	// SubscriberBuffer is each subscription's channel capacity
	// (DefaultSubscriberBuffer if zero).
	SubscriberBuffer int
	// MaxFileBytes is the size at which the attached file is rotated to
	// "<path>.1" (DefaultMaxFileBytes if zero).
	MaxFileBytes int64
}

// Journal is the appliance's event journal. It is safe for concurrent use;
// Emit never blocks on subscribers or storage.
type Journal struct {
	open       func(path string, truncate bool) (storageFile, error)
	clock      clock.Clock
	boot       string
	subBuffer  int
	maxFileLen int64

	attachMu sync.Mutex // serialises AttachFile

	mu          sync.Mutex
	ring        *ring
	seq         uint64
	dropped     uint64 // overwritten in the ring
	subs        map[*subscriber]struct{}
	subDropped  uint64
	store       *persister // nil until AttachFile
	persistLost uint64     // overwritten before the persister wrote them
}

// Stats describe the journal's health; the API serves them.
type Stats struct {
	Boot     string `json:"boot"`
	Emitted  uint64 `json:"emitted"`  // last Seq assigned
	Buffered int    `json:"buffered"` // events held in memory
	Capacity int    `json:"capacity"`
	// Dropped counts events overwritten in memory by newer ones.
	Dropped uint64 `json:"dropped"`
	// Subscribers and SubscriberDropped: live subscriptions and events
	// they lost because their buffer was full.
	Subscribers       int    `json:"subscribers"`
	SubscriberDropped uint64 `json:"subscriber_dropped"`
	// File, Persisted, PersistDropped and PersistError describe storage:
	// the attached path, the last Seq written, events lost because memory
	// overwrote them before they were written, and the last write error
	// (empty when the last write succeeded).
	File           string `json:"file,omitempty"`
	Persisted      uint64 `json:"persisted"`
	PersistDropped uint64 `json:"persist_dropped"`
	PersistError   string `json:"persist_error,omitempty"`
}

// NewJournal returns an empty in-memory journal.
func NewJournal(opts Options) *Journal {
	j := &Journal{
		open:       openFile,
		clock:      opts.Clock,
		boot:       opts.Boot,
		subBuffer:  opts.SubscriberBuffer,
		maxFileLen: opts.MaxFileBytes,
		subs:       make(map[*subscriber]struct{}),
	}
	if j.clock == nil {
		j.clock = clock.Real()
	}
	if j.boot == "" {
		j.boot = newBootID()
	}
	if j.subBuffer <= 0 {
		j.subBuffer = DefaultSubscriberBuffer
	}
	if j.maxFileLen <= 0 {
		j.maxFileLen = DefaultMaxFileBytes
	}
	capacity := opts.Capacity
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	j.ring = newRing(capacity)
	return j
}

func newBootID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// Boot returns this boot's identifier.
func (j *Journal) Boot() string { return j.boot }

// Emit records e. It assigns Seq, Boot and Time (overwriting what the
// caller set), records an unset Severity as Info, copies Fields, hands the
// event to every subscriber that has room, and wakes the storage writer.
// It never blocks on I/O or on a subscriber.
func (j *Journal) Emit(e Event) {
	e = e.clone()
	if e.Severity == 0 {
		e.Severity = Info
	}
	e.Boot = j.boot
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	e.Seq = j.seq
	e.Time = j.clock.Now()
	if j.ring.push(e) {
		j.dropped++
	}
	for s := range j.subs {
		select {
		case s.ch <- e.clone():
		default:
			j.subDropped++
		}
	}
	if j.store != nil {
		j.store.wake()
	}
}

// Query returns the in-memory events of this boot that match f, oldest
// first. Events dropped from memory are found with History.
func (j *Journal) Query(f Filter) []Event {
	l := limiter{f: f}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ring.each(f.AfterSeq, func(e *Event) bool { return l.add(*e) })
	return l.result()
}

// Stats returns a snapshot of the journal's counters.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := Stats{
		Boot:              j.boot,
		Emitted:           j.seq,
		Buffered:          j.ring.n,
		Capacity:          len(j.ring.buf),
		Dropped:           j.dropped,
		Subscribers:       len(j.subs),
		SubscriberDropped: j.subDropped,
		PersistDropped:    j.persistLost,
	}
	if j.store != nil {
		s.File = j.store.path
		s.Persisted = j.store.written
		if j.store.lastErr != nil {
			s.PersistError = j.store.lastErr.Error()
		}
	}
	return s
}

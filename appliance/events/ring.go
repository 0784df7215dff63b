package events

// ring holds the newest events of this boot, oldest overwritten first.
// Seqs in the ring are contiguous, so lookup by Seq is arithmetic. Not
// safe for concurrent use; the Journal's mutex guards it.
type ring struct {
	buf  []Event
	head int // index of the oldest event
	n    int
}

func newRing(capacity int) *ring { return &ring{buf: make([]Event, capacity)} }

// push stores e and reports whether the oldest event was overwritten.
func (r *ring) push(e Event) (overwrote bool) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = e
		r.n++
		return false
	}
	r.buf[r.head] = e
	r.head = (r.head + 1) % len(r.buf)
	return true
}

func (r *ring) at(i int) *Event { return &r.buf[(r.head+i)%len(r.buf)] }

// oldestSeq returns the Seq of the oldest event held, 0 if empty.
func (r *ring) oldestSeq() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.at(0).Seq
}

// each calls fn on the events with Seq > after, oldest first, until fn
// returns false.
func (r *ring) each(after uint64, fn func(*Event) bool) {
	start := 0
	if old := r.oldestSeq(); r.n > 0 && after >= old {
		skip := after - old + 1
		if skip >= uint64(r.n) {
			return
		}
		start = int(skip)
	}
	for i := start; i < r.n; i++ {
		if !fn(r.at(i)) {
			return
		}
	}
}

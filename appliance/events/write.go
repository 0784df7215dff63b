package events

import (
	"fmt"
)

// flush writes every event not yet written, fsyncs if the batch holds a
// Warning or worse (or sync is set), and rotates the file if it is full.
func (p *persister) flush(sync bool) error {
	j := p.j
	var batch []Event
	j.mu.Lock()
	if old := j.ring.oldestSeq(); old > p.written+1 {
		j.persistLost += old - (p.written + 1)
		p.written = old - 1
	}
	j.ring.each(p.written, func(e *Event) bool {
		batch = append(batch, *e) // Fields are never mutated once stored
		return true
	})
	wasFailing := p.lastErr != nil
	j.mu.Unlock()
	if len(batch) == 0 && !sync {
		return nil
	}

	var buf []byte
	for _, e := range batch {
		var err error
		if buf, err = encodeLine(buf, fitLine(e)); err != nil {
			return p.finish(batch, 0, err, wasFailing)
		}
		sync = sync || e.Severity >= Warning
	}
	n, err := p.write(buf)
	if err == nil && sync {
		if err = p.f.Sync(); err != nil {
			err = fmt.Errorf("fsync journal %s: %w", p.path, err)
		}
	}
	if ferr := p.finish(batch, n, err, wasFailing); ferr != nil {
		return ferr
	}
	return p.rotateIfFull()
}

// write appends buf; on a failed or short write it cuts the file back to
// the last whole line so a retry does not leave a torn line behind.
func (p *persister) write(buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	n, err := p.f.Write(buf)
	if err == nil {
		return n, nil
	}
	if n > 0 {
		p.j.mu.Lock()
		size := p.size
		p.j.mu.Unlock()
		_ = p.f.Truncate(size) // best effort; the next load reports a torn line otherwise
	}
	return 0, fmt.Errorf("write journal %s: %w", p.path, err)
}

// finish records the outcome of a flush and reports failure transitions
// as events. n is the number of bytes that reached the file.
func (p *persister) finish(batch []Event, n int, err error, wasFailing bool) error {
	j := p.j
	j.mu.Lock()
	if n > 0 {
		p.written = batch[len(batch)-1].Seq
		p.size += int64(n)
	}
	p.lastErr = err
	j.mu.Unlock()
	switch {
	case err != nil && !wasFailing:
		j.Emit(Event{Severity: Error, Source: "journal", Kind: "journal.persist_failed",
			Message: "cannot persist the event journal: " + err.Error(),
			Fields:  map[string]string{"path": p.path, "error": err.Error()}})
	case err == nil && wasFailing:
		j.Emit(Event{Severity: Notice, Source: "journal", Kind: "journal.persist_recovered",
			Message: "persisting the event journal again", Fields: map[string]string{"path": p.path}})
	}
	return err
}

// fitLine keeps a record under MaxLineBytes: an oversized event is stored
// with its message cut and its fields replaced by a note.
func fitLine(e Event) Event {
	n := len(e.Message) + len(e.Source) + len(e.Kind)
	for k, v := range e.Fields {
		n += len(k) + len(v)
	}
	if n < MaxLineBytes/8 { // JSON escaping grows text at most 6x
		return e
	}
	if len(e.Message) > 4096 {
		e.Message = e.Message[:4096]
	}
	if len(e.Source) > 256 {
		e.Source = e.Source[:256]
	}
	if len(e.Kind) > 256 {
		e.Kind = e.Kind[:256]
	}
	e.Fields = map[string]string{"truncated": "true"}
	return e
}

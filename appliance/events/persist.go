package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// persister appends the journal to a JSON-lines file from one goroutine,
// so that Emit never waits for the disk. It reads what to write straight
// from the journal's ring: nothing is queued twice, and if the disk falls
// so far behind that memory overwrites events it has not written, those
// are counted in Stats.PersistDropped.
type persister struct {
	j      *Journal
	path   string
	maxLen int64

	// Guarded by j.mu.
	written uint64 // last Seq written to the file
	size    int64  // bytes of whole lines in the current file
	lastErr error

	// filesMu is held for writing while the file is rotated and for
	// reading while History opens the files.
	filesMu sync.RWMutex

	wakeCh  chan struct{}
	syncReq chan chan error
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.Once
	// closeErr is set before done is closed.
	closeErr error

	// Owned by the writer goroutine once it runs.
	f        storageFile
	rotateAt int64 // after a failed rotation: size to try again at
}

// AttachReport says what AttachFile found at the end of an existing file.
type AttachReport struct {
	Path string `json:"path"`
	// Size of the file as found, in bytes.
	Size int64 `json:"size"`
	// TornBytes is the length of an unterminated, undecodable last line
	// (a write cut short by a crash), which was cut off; 0 if none.
	TornBytes int64 `json:"torn_bytes,omitempty"`
}

// AttachFile starts persisting the journal to the JSON-lines file at path,
// creating it if needed. Everything still in memory is written first; from
// then on every event is appended by a background writer, which Close
// stops. AttachFile returns once the backlog is written and fsync'd; if
// that fails, nothing is attached and the error is returned.
//
// Durability: every event is written to the file promptly, in batches. A
// batch that holds an event of severity Warning or above is fsync'd before
// the writer goes on; lower severities become durable with the next such
// batch, on Sync, on Close, or when the kernel writes the page cache back.
// An orderly shutdown therefore calls Close.
//
// Events of earlier boots stay in the file and are read with History. If
// the file ends in a torn line (a crash mid-write), that line is cut off
// and reported in the AttachReport and as a "journal.torn_tail" event; it
// is not an error. When the file reaches Options.MaxFileBytes it is
// renamed to path+".1" (replacing an older one) and a new file is begun.
func (j *Journal) AttachFile(path string) (AttachReport, error) {
	rep := AttachReport{Path: path}
	j.attachMu.Lock()
	defer j.attachMu.Unlock()
	if j.persister() != nil {
		return rep, fmt.Errorf("attach %s: %w", path, ErrAttached)
	}
	f, err := j.open(path, false)
	if err != nil {
		return rep, fmt.Errorf("attach journal: %w", err)
	}
	size, torn, err := repairTail(f)
	if err != nil {
		_ = f.Close()
		return rep, fmt.Errorf("attach journal %s: %w", path, err)
	}
	rep.Size, rep.TornBytes = size+torn, torn

	p := &persister{
		j:       j,
		path:    path,
		maxLen:  j.maxFileLen,
		size:    size,
		f:       f,
		wakeCh:  make(chan struct{}, 1),
		syncReq: make(chan chan error),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	// Write the boot's backlog before returning, so that the caller knows
	// it is on disk; the writer goroutine takes over from there.
	if err := p.flush(true); err != nil {
		_ = f.Close()
		return rep, fmt.Errorf("attach journal: %w", err)
	}
	j.mu.Lock()
	j.store = p
	j.mu.Unlock()
	go p.run()
	p.wake() // for events emitted during the backlog write

	j.Emit(Event{Severity: Info, Source: "journal", Kind: "journal.attached",
		Message: "event journal persisted to " + path,
		Fields:  map[string]string{"path": path, "size": strconv.FormatInt(rep.Size, 10)}})
	if torn > 0 {
		j.Emit(Event{Severity: Warning, Source: "journal", Kind: "journal.torn_tail",
			Message: fmt.Sprintf("cut off a torn last record of %d bytes in %s (crash mid-write)", torn, path),
			Fields:  map[string]string{"path": path, "bytes": strconv.FormatInt(torn, 10)}})
	}
	return rep, nil
}

// Sync waits until every event emitted before the call is written and
// fsync'd, and returns the write or fsync error if there was one.
func (j *Journal) Sync(ctx context.Context) error {
	p := j.persister()
	if p == nil {
		return fmt.Errorf("sync journal: %w", ErrNoStorage)
	}
	reply := make(chan error, 1)
	select {
	case p.syncReq <- reply:
	case <-p.done:
		return fmt.Errorf("sync journal: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("sync journal: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sync journal: %w", ctx.Err())
	}
}

// Close writes and fsyncs what is left, stops the writer and closes the
// file. The journal keeps working in memory. Close without storage, or a
// second Close, returns nil / the first result.
func (j *Journal) Close() error {
	p := j.persister()
	if p == nil {
		return nil
	}
	p.closeMu.Do(func() { close(p.quit) })
	<-p.done
	return p.closeErr
}

func (j *Journal) persister() *persister {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.store
}

// wake tells the writer there is work, without blocking.
func (p *persister) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

func (p *persister) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wakeCh:
			_ = p.flush(false) // recorded in lastErr and as an event
		case reply := <-p.syncReq:
			reply <- p.flush(true)
		case <-p.quit:
			err := p.flush(true)
			p.closeErr = errors.Join(err, p.f.Close())
			return
		}
	}
}

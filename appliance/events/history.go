package events

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// errEnough stops a history read once the Filter's Limit is met.
var errEnough = errors.New("enough events")

// History returns the persisted events of this and earlier boots that
// match f, oldest first, with what reading found (corrupt lines, a torn
// tail) summed over the files. Bad records are skipped and reported, never
// an error. It reads only what the writer has completed, so it never sees
// a line being written.
func (j *Journal) History(f Filter) ([]Event, ReadReport, error) {
	p := j.persister()
	if p == nil {
		return nil, ReadReport{}, fmt.Errorf("journal history: %w", ErrNoStorage)
	}
	p.filesMu.RLock()
	j.mu.Lock()
	committed := p.size
	j.mu.Unlock()
	older, errOld := os.Open(p.path + ".1")
	current, errCur := os.Open(p.path)
	p.filesMu.RUnlock()

	var sources []io.Reader
	for _, o := range []struct {
		f   *os.File
		err error
	}{{older, errOld}, {current, errCur}} {
		switch {
		case o.err == nil:
			defer o.f.Close()
		case errors.Is(o.err, fs.ErrNotExist):
			continue
		default:
			return nil, ReadReport{}, fmt.Errorf("journal history: %w", o.err)
		}
		sources = append(sources, o.f)
	}
	if errCur == nil {
		sources[len(sources)-1] = io.LimitReader(current, committed)
	}
	return readFiltered(f, sources...)
}

// ReadHistory reads a journal file written by AttachFile (and its rotated
// predecessor path+".1", if present) without a Journal, e.g. from a tool
// looking at the data disk. Like History, it tolerates bad records.
func ReadHistory(path string, f Filter) ([]Event, ReadReport, error) {
	var sources []io.Reader
	for _, name := range []string{path + ".1", path} {
		fh, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, ReadReport{}, fmt.Errorf("read journal history: %w", err)
		}
		defer fh.Close()
		sources = append(sources, fh)
	}
	return readFiltered(f, sources...)
}

func readFiltered(f Filter, sources ...io.Reader) ([]Event, ReadReport, error) {
	l := limiter{f: f}
	var total ReadReport
	for _, r := range sources {
		rep, err := ReadEvents(r, func(e Event) error {
			if !l.add(e) {
				return errEnough
			}
			return nil
		})
		total.Events += rep.Events
		if total.FirstCorruptLine == 0 && rep.FirstCorruptLine != 0 {
			total.FirstCorruptLine = rep.FirstCorruptLine
		}
		total.Corrupt += rep.Corrupt
		total.Torn = total.Torn || rep.Torn
		total.TornBytes += rep.TornBytes
		total.Unterminated = rep.Unterminated
		total.End = rep.End
		if errors.Is(err, errEnough) {
			break
		}
		if err != nil {
			return nil, total, fmt.Errorf("journal history: %w", err)
		}
	}
	return l.result(), total, nil
}

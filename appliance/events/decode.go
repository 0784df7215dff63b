package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one persisted event; longer lines are corrupt.
const MaxLineBytes = 1 << 20

// ReadReport says what ReadEvents found in a JSON-lines journal file.
type ReadReport struct {
	// Events is the number of events decoded and handed to the callback.
	Events int `json:"events"`
	// Corrupt counts newline-terminated lines that are not valid events
	// (skipped); FirstCorruptLine is the 1-based line number of the first.
	Corrupt          int `json:"corrupt"`
	FirstCorruptLine int `json:"first_corrupt_line,omitempty"`
	// Torn is set when the input ends in an unterminated line that is not
	// a valid event: a write cut short by a crash. TornBytes is its length.
	Torn      bool `json:"torn"`
	TornBytes int  `json:"torn_bytes,omitempty"`
	// Unterminated is set when the input does not end with a newline
	// (whether or not that last line decoded).
	Unterminated bool `json:"unterminated"`
	// End is the offset just past the last newline: where a writer can
	// safely continue after cutting off a torn line.
	End int64 `json:"end"`
}

// ReadEvents decodes JSON-lines events from r, calling fn for each valid
// one in file order. Bad lines are skipped and counted, a torn last line
// is reported, neither is an error: the error is for r failing or fn
// returning one (then reading stops and that error is returned wrapped).
// Blank lines are ignored.
func ReadEvents(r io.Reader, fn func(Event) error) (ReadReport, error) {
	var rep ReadReport
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	overlong := false
	lineNo := 0
	var off int64
	for {
		chunk, err := br.ReadSlice('\n')
		off += int64(len(chunk))
		if !overlong && len(line)+len(chunk) > MaxLineBytes+1 {
			overlong, line = true, line[:0]
		}
		if !overlong {
			line = append(line, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if off == rep.End {
				return rep, nil
			}
			rep.Unterminated = true
			if e, ok := decodeLine(line, overlong); ok {
				rep.Events++
				if err := fn(e); err != nil {
					return rep, fmt.Errorf("read events: %w", err)
				}
			} else if !blank(line) || overlong {
				rep.Torn, rep.TornBytes = true, int(off-rep.End)
			}
			return rep, nil
		case err != nil:
			return rep, fmt.Errorf("read events at offset %d: %w", off, err)
		}
		lineNo++
		rep.End = off
		e, ok := decodeLine(line, overlong)
		switch {
		case ok:
			rep.Events++
			if err := fn(e); err != nil {
				return rep, fmt.Errorf("read events: %w", err)
			}
		case overlong || !blank(line):
			rep.Corrupt++
			if rep.FirstCorruptLine == 0 {
				rep.FirstCorruptLine = lineNo
			}
		}
		line, overlong = line[:0], false
	}
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// decodeLine decodes one record. A record must be a JSON object with a
// valid severity, a time and a kind.
func decodeLine(line []byte, overlong bool) (Event, bool) {
	if overlong || blank(line) {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, false
	}
	if err := e.validate(); err != nil {
		return Event{}, false
	}
	return e, true
}

func (e Event) validate() error {
	switch {
	case !e.Severity.Valid():
		return fmt.Errorf("%w: severity %d", ErrBadRecord, e.Severity)
	case e.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrBadRecord)
	case e.Kind == "":
		return fmt.Errorf("%w: no kind", ErrBadRecord)
	}
	return nil
}

// encodeLine appends e as one JSON line.
func encodeLine(buf []byte, e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return buf, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	buf = append(buf, b...)
	return append(buf, '\n'), nil
}

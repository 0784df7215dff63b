package chunker

import (
	"errors"
	"fmt"
	"io"
)

// maxEmptyReads bounds consecutive (0, nil) reads before a Chunker gives up
// with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// minBuffer is the smallest read-ahead beyond Max: small Max values would
// otherwise mean many small reads.
const minBuffer = 1 << 20

// A Chunker splits a stream into chunks. It owns one buffer, reused for
// every chunk and across Reset, so the hot path does not allocate. It is not
// safe for concurrent use.
type Chunker struct {
	cut        *Cutter
	r          io.Reader
	buf        []byte
	start, end int   // unconsumed bytes are buf[start:end]
	off        int64 // stream offset of buf[start]
	eof        bool
	err        error // sticky read error
	// noCut: the first noCut unconsumed bytes end no chunk (a Cut found
	// none before the buffer's end), so the next Cut resumes there.
	noCut int
}

// NewChunker returns a Chunker reading r.
func (c *Cutter) NewChunker(r io.Reader) *Chunker {
	return &Chunker{cut: c, r: r, buf: make([]byte, c.p.Max+minBuffer)}
}

// Reset makes ch read r from offset 0, keeping its buffer.
func (ch *Chunker) Reset(r io.Reader) {
	ch.r, ch.start, ch.end, ch.off, ch.eof, ch.err, ch.noCut = r, 0, 0, 0, false, nil, 0
}

// Next returns the next chunk. Its Data is valid only until the next call
// of Next or Reset. At the end of the stream Next returns io.EOF; a read
// error is returned wrapped, and again on every later call.
func (ch *Chunker) Next() (Chunk, error) {
	if ch.err != nil {
		return Chunk{}, ch.err
	}
	// Read only when the bytes buffered hold no cut: a cut depends only
	// on the bytes before it, so one found short of the end is the cut
	// the whole stream has there. The buffer then needs room for one
	// largest chunk and a read, not two largest chunks, and a refill
	// moves only the start of the chunk being cut.
	for avail := ch.end - ch.start; avail < ch.cut.p.Max && !ch.eof; avail = ch.end - ch.start {
		if avail > ch.cut.p.Min {
			if n := ch.cut.cutFrom(ch.buf[ch.start:ch.end], ch.noCut); n < avail {
				return ch.take(n), nil
			}
			// None before the last byte; a cut right after it is
			// looked for again.
			ch.noCut = avail - 1
		}
		if err := ch.fill(); err != nil {
			ch.err = fmt.Errorf("chunker: read at offset %d: %w", ch.off+int64(ch.end-ch.start), err)
			return Chunk{}, ch.err
		}
	}
	if ch.start == ch.end {
		return Chunk{}, io.EOF
	}
	return ch.take(ch.cut.cutFrom(ch.buf[ch.start:ch.end], ch.noCut)), nil
}

// take returns the next n buffered bytes as a chunk.
func (ch *Chunker) take(n int) Chunk {
	c := Chunk{Offset: ch.off, Length: n, Data: ch.buf[ch.start : ch.start+n : ch.start+n]}
	ch.start += n
	ch.off += int64(n)
	ch.noCut = 0
	return c
}

// fill moves the unconsumed bytes to the front of the buffer and reads until
// the buffer is full or the stream ends.
func (ch *Chunker) fill() error {
	ch.end = copy(ch.buf, ch.buf[ch.start:ch.end])
	ch.start = 0
	empty := 0
	for ch.end < len(ch.buf) {
		n, err := ch.r.Read(ch.buf[ch.end:])
		ch.end += n
		switch {
		case errors.Is(err, io.EOF):
			ch.eof = true
			return nil
		case err != nil:
			return err
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
	return nil
}

package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// consolePoll is how often the console log is re-read while waiting.
const consolePoll = 20 * time.Millisecond

// tailLines is how many console lines an ExpectError carries.
const tailLines = 40

// ErrVMExited is wrapped by an Expect error when QEMU exited before the
// pattern appeared: no more output can come.
var ErrVMExited = errors.New("qemu exited")

// Console reads the guest's serial console from the log file QEMU writes
// (-serial file:). Output is never lost: QEMU appends to the file from its
// first byte, and the Console reads it from the start. Line ends are
// normalised from "\r\n" to "\n" for matching and Text.
//
// Expect-style matching uses a cursor: each match starts where the previous
// one ended. A Console is safe for concurrent use, but concurrent Expects share
// that cursor.
type Console struct {
	path    string
	stopped <-chan struct{} // closed once no more output can come; nil: never

	mu        sync.Mutex
	f         *os.File
	off       int64  // bytes of the file read so far
	buf       []byte // everything read so far, normalised
	pendingCR bool   // the last byte read was '\r', not yet known to end a line
	cursor    int    // where the next Expect starts in buf
}

// newConsole reads the log at path; stopped is closed when the writer is gone.
func newConsole(path string, stopped <-chan struct{}) *Console {
	return &Console{path: path, stopped: stopped}
}

// ExpectError is returned when Expect gives up: it carries the last lines
// of console output so a failing test shows what the guest printed.
type ExpectError struct {
	Pattern string
	Err     error // the context's error, or ErrVMExited
	Tail    string
}

func (e *ExpectError) Error() string {
	return fmt.Sprintf("console: waiting for /%s/: %v\n--- last %d console lines ---\n%s--- end of console ---",
		e.Pattern, e.Err, tailLines, e.Tail)
}

func (e *ExpectError) Unwrap() error { return e.Err }

// Expect waits until re matches the console output after the cursor, moves
// the cursor past the match and returns the match and its submatches. It fails
// with an *ExpectError when ctx ends or QEMU exits first.
func (c *Console) Expect(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	tick := time.NewTicker(consolePoll)
	defer tick.Stop()
	for {
		stopped := c.isStopped()
		m, err := c.tryMatch(re)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
		}
		if stopped {
			return nil, c.expectErr(re, ErrVMExited)
		}
		select {
		case <-ctx.Done():
			return nil, c.expectErr(re, ctx.Err())
		case <-c.stopped:
		case <-tick.C:
		}
	}
}

// ExpectString is Expect for a literal string.
func (c *Console) ExpectString(ctx context.Context, s string) error {
	_, err := c.Expect(ctx, regexp.MustCompile(regexp.QuoteMeta(s)))
	return err
}

// Text returns all console output so far.
func (c *Console) Text() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return "", err
	}
	return string(c.buf), nil
}

// Tail returns the last n lines of console output read so far.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.refresh() // best effort: the tail is for diagnostics
	return lastLines(string(c.buf), n)
}

// Follow copies the raw console output, from its first byte, to w as it
// arrives. It returns nil once QEMU has exited and everything was copied, or
// the context's error when ctx ends first. It keeps its own read position and
// does not move the Expect cursor.
func (c *Console) Follow(ctx context.Context, w io.Writer) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	tick := time.NewTicker(consolePoll)
	defer tick.Stop()
	for {
		stopped := c.isStopped()
		if f == nil {
			var err error
			if f, err = openIfExists(c.path); err != nil {
				return fmt.Errorf("console: follow: %w", err)
			}
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return fmt.Errorf("console: follow: %w", err)
			}
		}
		if stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stopped:
		case <-tick.C:
		}
	}
}

func (c *Console) isStopped() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}

// tryMatch reads new output and matches re after the cursor.
func (c *Console) tryMatch(re *regexp.Regexp) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, err
	}
	loc := re.FindSubmatchIndex(c.buf[c.cursor:])
	if loc == nil {
		return nil, nil
	}
	m := make([]string, len(loc)/2)
	for i := range m {
		if loc[2*i] >= 0 {
			m[i] = string(c.buf[c.cursor+loc[2*i] : c.cursor+loc[2*i+1]])
		}
	}
	c.cursor += loc[1]
	return m, nil
}

func (c *Console) expectErr(re *regexp.Regexp, err error) error {
	return &ExpectError{Pattern: re.String(), Err: err, Tail: c.Tail(tailLines)}
}

// refresh appends whatever the log gained since the last read. Called with c.mu held.
func (c *Console) refresh() error {
	if c.f == nil {
		f, err := openIfExists(c.path)
		if err != nil || f == nil {
			return err
		}
		c.f = f
	}
	chunk := make([]byte, 64<<10)
	for {
		n, err := c.f.ReadAt(chunk, c.off)
		c.off += int64(n)
		c.appendNormalised(chunk[:n])
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("console: read %s: %w", c.path, err)
		}
	}
}

// appendNormalised appends b to buf, turning "\r\n" into "\n" even when the
// pair is split between two reads.
func (c *Console) appendNormalised(b []byte) {
	for _, x := range b {
		if c.pendingCR {
			c.pendingCR = false
			if x != '\n' {
				c.buf = append(c.buf, '\r')
			}
		}
		if x == '\r' {
			c.pendingCR = true
			continue
		}
		c.buf = append(c.buf, x)
	}
}

// close releases the log file; a later read opens it again.
func (c *Console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// openIfExists opens path for reading, or returns nil if it does not exist yet.
func openIfExists(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open console log: %w", err)
	}
	return f, nil
}

// lastLines returns the last n lines of s, each ending in a newline.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

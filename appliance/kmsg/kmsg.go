package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record is one kernel log record.
type Record struct {
	// Priority is the syslog level, 0 (emergency) to 7 (debug).
	Priority int
	// Facility is the syslog facility (0 for the kernel itself).
	Facility int
	Seq      uint64
	// Since is the time since boot at which the kernel logged it.
	Since   time.Duration
	Message string
}

// ErrFormat is wrapped by every parse error.
var ErrFormat = errors.New("malformed kmsg record")

// Parse decodes one record as read(2) from /dev/kmsg returns it.
func Parse(b []byte) (Record, error) {
	s := string(b)
	header, rest, ok := strings.Cut(s, ";")
	if !ok {
		return Record{}, fmt.Errorf("%w: no ';' after the header", ErrFormat)
	}
	f := strings.Split(header, ",")
	if len(f) < 4 {
		return Record{}, fmt.Errorf("%w: header %q has %d fields, want at least 4", ErrFormat, header, len(f))
	}
	pri, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil {
		return Record{}, fmt.Errorf("%w: priority %q", ErrFormat, f[0])
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: sequence %q", ErrFormat, f[1])
	}
	us, err := strconv.ParseUint(f[2], 10, 63)
	if err != nil || us > uint64(1<<63-1)/uint64(time.Microsecond) {
		return Record{}, fmt.Errorf("%w: timestamp %q", ErrFormat, f[2])
	}
	msg, _, _ := strings.Cut(rest, "\n") // continuation lines are dropped
	return Record{
		Priority: int(pri & 7), Facility: int(pri >> 3), Seq: seq,
		Since:   time.Duration(us) * time.Microsecond,
		Message: unescape(msg),
	}, nil
}

// unescape undoes the kernel's \xNN escaping of non-printable bytes.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Follow reads records from r (an open /dev/kmsg: every read returns one
// record) and calls fn for each, until ctx is done or r fails. Records
// the kernel overwrote before they were read (EPIPE) are skipped; a
// record that does not parse is passed to bad and skipped.
func Follow(ctx context.Context, r io.Reader, fn func(Record), bad func(error)) error {
	buf := make([]byte, 8192) // the kernel's record limit is about 1 KiB of text plus metadata
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.EPIPE) {
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read kernel log: %w", err)
		}
		rec, err := Parse(buf[:n])
		if err != nil {
			bad(err)
			continue
		}
		fn(rec)
	}
	return nil
}

// FollowFile follows the kernel log at path (normally /dev/kmsg) from the
// oldest record still in the buffer until ctx is done.
func FollowFile(ctx context.Context, path string, fn func(Record), bad func(error)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kernel log: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	defer f.Close()
	return Follow(ctx, f, fn, bad)
}

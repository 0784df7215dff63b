package events

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// repairTail makes an existing journal file safe to append to without
// reading all of it: a torn last line (unterminated and not a valid event)
// is cut off, a valid but unterminated last line gets its newline. It
// returns the size of the file's whole lines and how many torn bytes were
// cut.
func repairTail(f storageFile) (size, torn int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat: %w", err)
	}
	total := st.Size()
	nl, err := lastNewline(f, total)
	if err != nil {
		return 0, 0, err
	}
	end := nl + 1 // 0 when there is no newline at all
	if end == total {
		return total, 0, nil
	}
	tailLen := total - end
	if tailLen <= MaxLineBytes {
		tail := make([]byte, tailLen)
		if _, err := f.ReadAt(tail, end); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("read tail: %w", err)
		}
		if _, ok := decodeLine(tail, false); ok {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				return 0, 0, fmt.Errorf("terminate last line: %w", err)
			}
			return total + 1, 0, nil
		}
	}
	if err := f.Truncate(end); err != nil {
		return 0, 0, fmt.Errorf("cut torn tail: %w", err)
	}
	return end, tailLen, nil
}

// lastNewline returns the offset of the last '\n' in the first size bytes
// of r, or -1.
func lastNewline(r io.ReaderAt, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for hi := size; hi > 0; {
		lo := max(0, hi-chunk)
		b := buf[:hi-lo]
		if _, err := r.ReadAt(b, lo); err != nil && !errors.Is(err, io.EOF) {
			return -1, fmt.Errorf("read at %d: %w", lo, err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return lo + int64(i), nil
		}
		hi = lo
	}
	return -1, nil
}

package md

import (
	"errors"
	"io"
)

// memDev is an in-memory member.
type memDev struct{ b []byte }

func newMemDev(n int) *memDev { return &memDev{b: make([]byte, n)} }

func (d *memDev) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(d.b)) {
		return 0, io.EOF
	}
	n := copy(p, d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *memDev) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > int64(len(d.b)) {
		return 0, errors.New("write beyond end of device")
	}
	return copy(d.b[off:], p), nil
}

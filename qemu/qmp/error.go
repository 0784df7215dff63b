package qmp

import (
	"errors"
	"fmt"
)

// ErrClosed is wrapped by every error caused by the connection having ended
// (QEMU exited, or Close was called).
var ErrClosed = errors.New("qmp: connection closed")

// Error is an error reply from QEMU, e.g. {"class":"GenericError","desc":"Device 'x' not found"}.
// Callers branch on it with errors.As.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Class, e.Desc) }

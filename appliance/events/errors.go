package events

import "errors"

var (
	// ErrBadSeverity: a severity name or value is not one of the six.
	ErrBadSeverity = errors.New("unknown severity")
	// ErrNoStorage: History or Sync was called before AttachFile.
	ErrNoStorage = errors.New("no storage attached")
	// ErrAttached: AttachFile was called twice.
	ErrAttached = errors.New("storage already attached")
	// ErrClosed: the storage was closed.
	ErrClosed = errors.New("journal storage closed")
	// ErrBadRecord: a persisted line is not a valid event.
	ErrBadRecord = errors.New("bad event record")
)

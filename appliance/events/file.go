package events

import (
	"io"
	"os"
)

// storageFile is the journal file as the writer uses it: *os.File, or in
// tests a fake that fails on cue.
type storageFile interface {
	io.ReaderAt
	io.Writer
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// openFile opens (creating) the journal file for appending.
func openFile(path string, truncate bool) (storageFile, error) {
	flags := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o640)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

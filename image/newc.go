package image

import (
	"fmt"
	"io"
)

// File type bits of a cpio mode, as in stat(2).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
	modeType    = 0o170000
)

// newcTrailer names the entry that ends a newc archive.
const newcTrailer = "TRAILER!!!"

// entry is one member of the archive.
type entry struct {
	name      string // path without a leading '/', e.g. "dev/console"
	mode      uint32 // type and permission bits
	data      []byte // file contents, or a symlink's target
	rdevMajor uint32 // device number of a device node
	rdevMinor uint32
}

// writeNewc writes entries as a newc ("070701") cpio archive followed by
// the trailer, the format the kernel unpacks into the initramfs. Inode
// numbers are assigned from 1 in entry order; owner, group and mtime are 0.
func writeNewc(w io.Writer, entries []entry) (int64, error) {
	cw := &countWriter{w: w}
	for i, e := range entries {
		if err := writeNewcEntry(cw, uint32(i+1), e); err != nil {
			return cw.n, fmt.Errorf("cpio entry %s: %w", e.name, err)
		}
	}
	if err := writeNewcEntry(cw, 0, entry{name: newcTrailer}); err != nil {
		return cw.n, fmt.Errorf("cpio trailer: %w", err)
	}
	return cw.n, nil
}

func writeNewcEntry(w *countWriter, ino uint32, e entry) error {
	nlink := uint32(1)
	if e.mode&modeType == modeDir {
		nlink = 2
	}
	if uint64(len(e.data)) > 0xffffffff {
		return fmt.Errorf("%d bytes is too large for newc", len(e.data))
	}
	name := e.name + "\x00"
	_, err := fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rdevMajor, e.rdevMinor, len(name), 0)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, name); err != nil {
		return err
	}
	if err := w.pad4(); err != nil {
		return err
	}
	if _, err := w.Write(e.data); err != nil {
		return err
	}
	return w.pad4()
}

// countWriter counts bytes written so that entries can be 4-byte aligned.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) pad4() error {
	var zeros [3]byte
	_, err := c.Write(zeros[:(4-c.n%4)%4])
	return err
}

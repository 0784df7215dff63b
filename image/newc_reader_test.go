package image

import (
	"bytes"
	"fmt"
	"strconv"
)

// readEntry is an archive member as read back by readNewc.
type readEntry struct {
	entry
	ino, uid, gid, nlink, mtime uint32
}

// readNewc parses a newc archive strictly (magic, field syntax, 4-byte
// alignment, a trailer at the end and nothing after it): the test's reader
// for what writeNewc wrote.
func readNewc(data []byte) ([]readEntry, error) {
	var out []readEntry
	off := 0
	align := func() { off = (off + 3) &^ 3 }
	for {
		if len(data)-off < 110 {
			return nil, fmt.Errorf("offset %d: short header", off)
		}
		h := data[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("offset %d: magic %q", off, h[:6])
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("offset %d: field %d: %w", off, i, err)
			}
			f[i] = uint32(v)
		}
		off += 110
		nameLen, size := int(f[11]), int(f[6])
		if nameLen == 0 || len(data)-off < nameLen || data[off+nameLen-1] != 0 {
			return nil, fmt.Errorf("offset %d: bad name", off)
		}
		name := string(data[off : off+nameLen-1])
		off += nameLen
		align()
		if len(data)-off < size {
			return nil, fmt.Errorf("%s: short data", name)
		}
		body := data[off : off+size]
		off += size
		align()
		if name == newcTrailer {
			if off != len(data) {
				return nil, fmt.Errorf("%d bytes after the trailer", len(data)-off)
			}
			return out, nil
		}
		out = append(out, readEntry{
			entry: entry{name: name, mode: f[1], data: bytes.Clone(body), rdevMajor: f[9], rdevMinor: f[10]},
			ino:   f[0], uid: f[2], gid: f[3], nlink: f[4], mtime: f[5],
		})
	}
}

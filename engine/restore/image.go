package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"keep/engine/snapshot"
	"keep/engine/tree"
)

// WriteImage writes the Image (or File) node at sub in snap to dst: into
// dst itself when it is an existing block device (which must be at least
// the image's size; holes are written as zeros, as a device keeps old
// data where nothing is written, and nothing past the image is touched),
// otherwise to a regular file dst, created anew, holes left sparse, with
// the node's mode, owner and times. A chunk that cannot be read fails the
// whole write (a regular file is removed; a device is left partly
// written, which the error says).
func WriteImage(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, sub, dst string, opts Options) (*Result, error) {
	sub = strings.Trim(sub, "/")
	if sub == "" {
		return nil, errors.New("restore: WriteImage needs the path of an image")
	}
	nodes, _, err := find(ctx, g, snap.Tree, sub)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	n := &nodes[0]
	if n.Type != tree.Image && n.Type != tree.File && n.Type != tree.Hardlink {
		return nil, fmt.Errorf("restore: %s is a %v, not an image", sub, n.Type)
	}
	r := newRestorer(g, opts)
	var st unix.Stat_t
	if err := unix.Stat(dst, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
		if err := r.device(ctx, n, dst); err != nil {
			return nil, fmt.Errorf("restore: %s to %s: %w", path.Base(sub), dst, err)
		}
	} else {
		f := *n
		f.Type = tree.File
		if err := r.file(ctx, &f, dst); err != nil {
			return nil, fmt.Errorf("restore: %s to %s: %w", path.Base(sub), dst, err)
		}
	}
	r.res.Files, r.res.Bytes = r.files.Load(), r.bytes.Load()
	return &r.res, nil
}

// device writes an image's content into the block device dst: chunks at
// their offsets, holes as zeros, then fsync.
func (r *restorer) device(ctx context.Context, n *tree.Node, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		_ = f.Close()
		return err
	}
	if uint64(size) < n.Size {
		_ = f.Close()
		return fmt.Errorf("device of %d bytes is smaller than the image's %d", size, n.Size)
	}
	err = r.content(ctx, f, n.Content)
	if err == nil {
		err = writeHoles(f, n.Content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("device partly written: %w", err)
	}
	r.files.Add(1)
	return nil
}

// writeHoles writes zeros over the holes of a content list.
func writeHoles(f *os.File, es []tree.Extent) error {
	zero := make([]byte, 1<<20)
	var off int64
	for _, e := range es {
		if e.Hole {
			for left := int64(e.Length); left > 0; {
				k := min(left, int64(len(zero)))
				if _, err := f.WriteAt(zero[:k], off+int64(e.Length)-left); err != nil {
					return err
				}
				left -= k
			}
		}
		off += int64(e.Length)
	}
	return nil
}

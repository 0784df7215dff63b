package restore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"keep/engine/snapshot"
	"keep/engine/tree"
	"keep/internal/durable"
)

// WriteImage writes the Image (or File) node at sub in snap to dst: into
// dst itself when it is a block device, or a symlink to one, as
// /dev/disk/by-id names them (which must be at least the image's size;
// holes are written as zeros, as a device keeps old data where nothing is
// written, and nothing past the image is touched), otherwise to a regular
// file dst, holes left sparse, with the node's mode, owner and times:
// written beside dst under a temporary name, synced and renamed over it,
// so an existing file is replaced only by a complete one. Any other dst
// (a directory, a character device, a FIFO, a symlink to anything but a
// block device) is refused. A chunk that cannot be read fails the whole
// write (the temporary file is removed and dst left as it was; a device is
// left partly written, which the error says).
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
	device, err := imageDest(dst, opts.NoFollow)
	if err != nil {
		return nil, fmt.Errorf("restore: %s to %s: %w", path.Base(sub), dst, err)
	}
	if device {
		if err := r.device(ctx, n, dst, opts.NoFollow); err != nil {
			return nil, fmt.Errorf("restore: %s to %s: %w", path.Base(sub), dst, err)
		}
	} else {
		f := *n
		f.Type = tree.File
		if err := r.fileReplacing(ctx, &f, dst); err != nil {
			return nil, fmt.Errorf("restore: %s to %s: %w", path.Base(sub), dst, err)
		}
	}
	r.res.Files, r.res.Bytes = r.files.Load(), r.bytes.Load()
	return &r.res, nil
}

// imageDest says what WriteImage writes at dst: a block device (true),
// a regular file, new or replacing one (false), or nothing (an error).
func imageDest(dst string, noFollow bool) (device bool, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(dst, &st); errors.Is(err, unix.ENOENT) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		return true, nil
	case unix.S_IFREG:
		return false, nil
	case unix.S_IFLNK:
		if noFollow {
			return false, errors.New("a symlink, not followed here: give the block device's or the file's own path")
		}
		if err := unix.Stat(dst, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return true, nil
		}
		return false, errors.New("a symlink, not to a block device: give a block device or a regular file's own path")
	}
	return false, fmt.Errorf("not a regular file or a block device (mode %o): nothing written", st.Mode&unix.S_IFMT)
}

// fileReplacing writes the regular file n to a temporary file beside dst,
// syncs it and renames it over dst: dst is never a partial file.
func (r *restorer) fileReplacing(ctx context.Context, n *tree.Node, dst string) error {
	// A name no one can guess ahead (dst's directory may be another
	// user's), and synced through the descriptor before it is closed:
	// nothing opens tmp by name again.
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), fmt.Sprintf(".keep-restore-%s-%x", filepath.Base(dst), rnd))
	r.syncFiles = true
	if err := r.file(ctx, n, tmp); err != nil {
		return err // file removed tmp
	}
	err := os.Rename(tmp, dst)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return durable.SyncDir(filepath.Dir(dst))
}

// device writes an image's content into the block device dst: chunks at
// their offsets, holes as zeros, then fsync.
func (r *restorer) device(ctx context.Context, n *tree.Node, dst string, noFollow bool) error {
	flags := os.O_WRONLY
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	f, err := os.OpenFile(dst, flags, 0)
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

package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"keep/engine/pack"
	"keep/engine/tree"
)

// file writes a regular file's content: chunks at their offsets (read and
// written by up to Workers goroutines, out of order), holes left unwritten
// and the size set last, so holes stay holes. On a read error the file is
// removed.
func (r *restorer) file(ctx context.Context, n *tree.Node, dst string) error {
	_ = os.Remove(dst) // never write through an existing hard link
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = r.content(ctx, f, n.Content)
	if err == nil {
		err = f.Truncate(int64(n.Size))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return err
	}
	r.files.Add(1)
	r.meta(n, dst)
	return nil
}

type piece struct {
	ext tree.Extent
	off int64
}

func (r *restorer) content(ctx context.Context, f *os.File, es []tree.Extent) error {
	var pieces []piece
	var off int64
	for _, e := range es {
		if !e.Hole {
			pieces = append(pieces, piece{e, off})
		}
		off += int64(e.Length)
	}
	workers := min(r.workers, len(pieces))
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := func() {
		defer wg.Done()
		var buf []byte
		for {
			i := int(next.Add(1) - 1)
			if i >= len(pieces) || ctx.Err() != nil {
				return
			}
			mu.Lock()
			failed := first != nil
			mu.Unlock()
			if failed {
				return
			}
			p := pieces[i]
			var err error
			buf, err = r.g.Get(ctx, pack.Data, p.ext.ID, buf[:0])
			if err == nil && uint64(len(buf)) != p.ext.Length {
				err = fmt.Errorf("chunk %s: %d bytes, the tree says %d", p.ext.ID.Short(), len(buf), p.ext.Length)
			}
			if err == nil {
				_, err = f.WriteAt(buf, p.off)
				r.bytes.Add(int64(len(buf)))
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
		}
	}
	wg.Add(workers)
	for range workers {
		go work()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// meta restores owner, mode, xattrs and times, in that order (chown clears
// set-id bits, and an ACL xattr sets the mode's group bits). Failures are
// recorded, not returned.
func (r *restorer) meta(n *tree.Node, dst string) {
	link := n.Type == tree.Symlink
	if r.owners {
		if err := os.Lchown(dst, int(n.UID), int(n.GID)); err != nil {
			r.fail(dst, fmt.Errorf("chown: %w", err))
		}
	}
	if !link {
		if err := unix.Chmod(dst, n.Mode); err != nil {
			r.fail(dst, fmt.Errorf("chmod: %w", err))
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(dst, x.Name, x.Value, 0); err != nil {
			if errors.Is(err, unix.EPERM) && link {
				continue // user.* xattrs are not allowed on symlinks
			}
			r.fail(dst, fmt.Errorf("xattr %s: %w", x.Name, err))
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		r.fail(dst, fmt.Errorf("times: %w", err))
	}
}

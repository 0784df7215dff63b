package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/tree"
)

// create creates the regular file dst (relative to base) for writing.
func (r *restorer) create(dst string) (*os.File, error) {
	// Created anew, never written through an existing file (a hard
	// link into another file, a symlink): O_EXCL, and only if something
	// is in the way is it removed first. Into a fresh target the unlink
	// would be a wasted directory lookup per file (measured: a third of
	// a 65k-file restore's system time).
	var fd int
	err := r.replace(dst, func() (err error) {
		fd, err = unix.Openat(r.base, dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return os.NewFile(uintptr(fd), r.display(dst)), nil
}

// file writes a regular file in this goroutine (WriteImage): chunks at
// their offsets (read and written by up to Workers goroutines, out of
// order), holes left unwritten and the size set last, so holes stay
// holes. On a read error the file is removed.
func (r *restorer) file(ctx context.Context, n *tree.Node, dst string) error {
	f, err := r.create(dst)
	if err != nil {
		return err
	}
	return r.finishFile(n, f, dst, r.content(ctx, f, n.Content))
}

// finishFile completes the file f at dst whose content was written with
// the error err: its size and metadata set and closed, or, on an error,
// closed and removed.
func (r *restorer) finishFile(n *tree.Node, f *os.File, dst string, err error) error {
	if err == nil && needsTruncate(n) {
		err = f.Truncate(int64(n.Size))
	}
	if err != nil {
		_ = f.Close()
		_ = r.remove(dst)
		return err
	}
	// The metadata through the open descriptor: no path lookups, and
	// the times are set after the last write.
	r.metaFd(n, int(f.Fd()), dst)
	if r.syncFiles {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			_ = r.remove(dst)
			return err
		}
	}
	if err := f.Close(); err != nil {
		_ = r.remove(dst)
		return err
	}
	r.files.Add(1)
	return nil
}

// fileJob is a file created by the walker, open, for the workers to
// write: pieces are its data extents.
type fileJob struct {
	n      *tree.Node
	f      *os.File
	dst    string
	parent *dirState
	lt     *linkTarget // multiply linked: its later names
	pieces []piece
	next   int          // the next piece to hand out; under the queue's mu
	left   atomic.Int64 // pieces not done; who brings it to 0 finishes
	mu     sync.Mutex
	err    error // the first piece's error; under mu
	failed atomic.Bool
}

// count is how many units of work j is: its pieces, or one for a file
// without data (it still needs finishing).
func (j *fileJob) count() int { return max(1, len(j.pieces)) }

// jobQueue holds the files whose pieces are not all handed out, in
// creation order; workers take pieces from the head, so they work on one
// large file together and on small files each their own.
type jobQueue struct {
	mu     sync.Mutex
	cond   sync.Cond // L is &mu; signalled on push and close
	jobs   []*fileJob
	closed bool
}

func (q *jobQueue) push(j *fileJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	if j.count() > 1 {
		q.cond.Broadcast()
	} else {
		q.cond.Signal()
	}
}

// close makes take return false once the queue is empty.
func (q *jobQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// span is part of a run: pieces [i, end) of j (an index past the
// pieces: a file without data).
type span struct {
	j      *fileJob
	i, end int
}

// take appends the next run of pieces to write to dst, waiting for one;
// false when the queue is closed and empty. A run is about runBytes of
// one file's consecutive pieces, or, up to maxFiles, of whole small files
// queued one after another (a BatchGetter reads a run in one request).
func (q *jobQueue) take(maxFiles int, dst []span) ([]span, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 {
		if q.closed {
			return dst, false
		}
		q.cond.Wait()
	}
	// Consecutive pieces of about runBytes: small chunks of one bundle
	// (a disk image's) go to one worker, which opens the bundle once,
	// while another worker opens the next bundle; handed out one by one,
	// both workers asked for the same bundle and one waited.
	var n uint64
	for len(q.jobs) > 0 && len(dst) < maxFiles && (len(dst) == 0 || n < runBytes) {
		j := q.jobs[0]
		i := j.next
		for j.next < j.count() && (j.next == i || n < runBytes) {
			if j.next < len(j.pieces) {
				n += j.pieces[j.next].ext.Length
			}
			j.next++
		}
		dst = append(dst, span{j, i, j.next})
		if j.next < j.count() {
			break
		}
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
	}
	return dst, true
}

// runBytes is how much data take hands out at once: a bundle's worth
// (repo.DefaultBundleSize).
const runBytes = 1 << 20

// batchFiles is how many small files one run of a BatchGetter's holds.
const batchFiles = 256

// worker writes pieces until the queue is closed and empty, and finishes
// each file whose last piece it completes. Once a file has failed (or ctx
// ended) its remaining pieces are skipped, not read.
func (r *restorer) worker(ctx context.Context) {
	var buf []byte
	maxFiles := 1
	if r.batch != nil {
		maxFiles = batchFiles
	}
	var spans []span
	for {
		var ok bool
		if spans, ok = r.q.take(maxFiles, spans[:0]); !ok {
			return
		}
		if r.batch != nil {
			r.runBatch(ctx, spans)
		}
		for _, sp := range spans {
			j := sp.j
			for i := sp.i; i < sp.end; i++ {
				if r.batch == nil && i < len(j.pieces) && !j.failed.Load() && ctx.Err() == nil {
					var err error
					if buf, err = r.piece(ctx, j.f, j.pieces[i], buf); err != nil {
						j.setErr(err)
					}
					if cap(buf) > maxPooledBuf {
						buf = nil
					}
				}
				if j.left.Add(-1) == 0 {
					r.finish(ctx, j)
				}
			}
		}
		clear(spans)
	}
}

// setErr records the file's first error and marks it failed.
func (j *fileJob) setErr(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
	j.failed.Store(true)
}

// runBatch reads and writes the pieces of spans with one GetBatch (a
// BatchGetter: one round trip for the run instead of one per chunk). A
// piece's error fails its file only; a failure of the whole request fails
// every file with a piece not yet written.
func (r *restorer) runBatch(ctx context.Context, spans []span) {
	if ctx.Err() != nil {
		return
	}
	type at struct {
		j *fileJob
		p piece
	}
	var ids []fingerprint.ID
	var where []at
	for _, sp := range spans {
		if sp.j.failed.Load() {
			continue
		}
		for i := sp.i; i < min(sp.end, len(sp.j.pieces)); i++ {
			ids = append(ids, sp.j.pieces[i].ext.ID)
			where = append(where, at{sp.j, sp.j.pieces[i]})
		}
	}
	if len(ids) == 0 {
		return
	}
	done := 0
	err := r.batch.GetBatch(ctx, ids, func(k int, data []byte, err error) error {
		done = k + 1
		w := where[k]
		if w.j.failed.Load() {
			return nil
		}
		if err == nil && uint64(len(data)) != w.p.ext.Length {
			err = fmt.Errorf("chunk %s: %d bytes, the tree says %d", w.p.ext.ID.Short(), len(data), w.p.ext.Length)
		}
		if err == nil {
			_, err = w.j.f.WriteAt(data, w.p.off)
			r.bytes.Add(int64(len(data)))
		}
		if err != nil {
			w.j.setErr(err)
		}
		return nil
	})
	if err != nil {
		for _, w := range where[done:] {
			w.j.setErr(err)
		}
	}
}

// finish completes a file whose pieces are all done (or skipped): sets its
// size and metadata and closes it, or removes it (and names linked to it
// meanwhile) on an error; then frees its slot and releases its directory.
func (r *restorer) finish(ctx context.Context, j *fileJob) {
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if err == nil {
		err = ctx.Err()
	}
	lt := j.lt
	if lt != nil {
		// Held from before the first name may be removed until the
		// state says so: the walker links only to a name that exists
		// and whose failure will remove the link too.
		lt.mu.Lock()
	}
	err = r.finishFile(j.n, j.f, j.dst, err)
	if err != nil {
		r.fail(j.dst, err)
	}
	if lt != nil {
		extra := lt.extra
		lt.extra = nil
		if err == nil {
			lt.state = linkOK
			r.files.Add(int64(len(extra)))
		} else {
			lt.state = linkFailed
			for _, x := range extra {
				_ = r.remove(x.dst)
				r.fail(x.dst, fmt.Errorf("hard link to %s: %w", r.display(lt.path), err))
			}
		}
		lt.mu.Unlock()
		for _, x := range extra {
			r.release(ctx, x.parent)
		}
	}
	<-r.slots
	r.release(ctx, j.parent)
}

// needsTruncate reports whether a file written with n's content still
// needs its size set: it ends with a hole, or its extents do not add up to
// its size. A file ending with data has its size from the last write (the
// file is new, so nothing lies beyond it); an empty one has it already.
func needsTruncate(n *tree.Node) bool {
	var sum uint64
	for _, e := range n.Content {
		sum += e.Length
	}
	k := len(n.Content)
	return sum != n.Size || (k > 0 && n.Content[k-1].Hole)
}

type piece struct {
	ext tree.Extent
	off int64
}

// pieces lists the data extents of a content list with their offsets.
func pieces(es []tree.Extent) []piece {
	var ps []piece
	var off int64
	for _, e := range es {
		if !e.Hole {
			ps = append(ps, piece{e, off})
		}
		off += int64(e.Length)
	}
	return ps
}

// content writes a file's pieces with up to Workers goroutines of its own
// (WriteImage; Restore's workers share the pieces of all files instead).
func (r *restorer) content(ctx context.Context, f *os.File, es []tree.Extent) error {
	pieces := pieces(es)
	workers := min(r.workers, len(pieces))
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := func() {
		defer wg.Done()
		buf := r.getBuf()
		defer func() { r.putBuf(buf) }()
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
			var err error
			buf, err = r.piece(ctx, f, pieces[i], buf)
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

// piece reads one chunk (into buf, returned for reuse) and writes it at
// its offset in f.
func (r *restorer) piece(ctx context.Context, f *os.File, p piece, buf []byte) ([]byte, error) {
	buf, err := r.g.Get(ctx, pack.Data, p.ext.ID, buf[:0])
	if err == nil && uint64(len(buf)) != p.ext.Length {
		err = fmt.Errorf("chunk %s: %d bytes, the tree says %d", p.ext.ID.Short(), len(buf), p.ext.Length)
	}
	if err == nil {
		_, err = f.WriteAt(buf, p.off)
		r.bytes.Add(int64(len(buf)))
	}
	return buf, err
}

// metaFd is meta for a regular file or a directory open as fd (at dst,
// for errors): no path lookups, and a file's times set after its last
// write.
func (r *restorer) metaFd(n *tree.Node, fd int, dst string) {
	if r.owners {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil {
			r.fail(dst, fmt.Errorf("chown: %w", err))
		}
	}
	if err := unix.Fchmod(fd, n.Mode); err != nil {
		r.fail(dst, fmt.Errorf("chmod: %w", err))
	}
	for _, x := range n.Xattrs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
			r.fail(dst, fmt.Errorf("xattr %s: %w", x.Name, err))
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	if err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH); err != nil {
		r.fail(dst, fmt.Errorf("times: %w", err))
	}
}

// meta restores owner, mode, xattrs and times, in that order (chown clears
// set-id bits, and an ACL xattr sets the mode's group bits), of the item
// at dst (relative to base), never following a symlink there. Failures are
// recorded, not returned.
func (r *restorer) meta(n *tree.Node, dst string) {
	if n.Type == tree.Dir {
		// Through a descriptor: one lookup, not one per call.
		fd, err := unix.Openat(r.base, dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			r.fail(dst, fmt.Errorf("metadata: %w", err))
			return
		}
		r.metaFd(n, fd, dst)
		_ = unix.Close(fd)
		return
	}
	link := n.Type == tree.Symlink
	if r.owners {
		if err := unix.Fchownat(r.base, dst, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			r.fail(dst, fmt.Errorf("chown: %w", err))
		}
	}
	if !link {
		// A FIFO or device node this restore made (not followed: not a
		// link).
		if err := unix.Fchmodat(r.base, dst, n.Mode, 0); err != nil {
			r.fail(dst, fmt.Errorf("chmod: %w", err))
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(r.at(dst), x.Name, x.Value, 0); err != nil {
			if errors.Is(err, unix.EPERM) && link {
				continue // user.* xattrs are not allowed on symlinks
			}
			r.fail(dst, fmt.Errorf("xattr %s: %w", x.Name, err))
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	if err := unix.UtimesNanoAt(r.base, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		r.fail(dst, fmt.Errorf("times: %w", err))
	}
}

// getBuf and putBuf recycle chunk buffers across files: a new buffer per
// file cost a large allocation and its zeroing for every small file
// (18 % of a 65k-file restore's CPU). A bounded free list, not a
// sync.Pool, which the garbage collector empties at the rate such
// allocations make it run.
func (r *restorer) getBuf() []byte {
	select {
	case b := <-r.bufs:
		return b[:0]
	default:
		return nil
	}
}

func (r *restorer) putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	select {
	case r.bufs <- b[:0]:
	default:
	}
}

// maxPooledBuf bounds the buffers kept for reuse (a file chunk is at most
// the chunker's Max, 4 MiB by default).
const maxPooledBuf = 8 << 20

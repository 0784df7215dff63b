package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"keep/engine/fingerprint"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// A BatchGetter is a tree.Getter that also reads several data blobs in
// one request (engine/remote's Reader: one round trip to the vault per run
// of a file's chunks, not per chunk). Restore uses it when g is one.
type BatchGetter interface {
	tree.Getter
	// GetBatch reads the data blobs ids and calls each for every one,
	// in order, with its plaintext (valid during the call) or its error;
	// it stops at the first error each returns and returns it, or a
	// failure of the whole request.
	GetBatch(ctx context.Context, ids []fingerprint.ID, each func(i int, data []byte, err error) error) error
}

// Options tune a restore.
type Options struct {
	// Owners restores uid/gid (lchown); Devices creates device nodes.
	// Both need root; nil: whether the process runs as root.
	Owners, Devices *bool
	// Workers is how many goroutines read and write file content, the
	// chunks of one large file or of several small ones; zero: twice
	// GOMAXPROCS.
	Workers int
	// NoFollow: WriteImage's destination is not followed if it is a
	// symlink (refused), and a device is opened O_NOFOLLOW, for a caller
	// that resolved it already (keep-agent as root).
	NoFollow bool
}

// Failed is an item not restored (or not completely), with the reason.
type Failed struct {
	Path   string
	Reason string
}

// Result counts what a restore wrote.
type Result struct {
	Files, Dirs int64
	Bytes       int64 // data bytes written (holes excluded)
	Failed      []Failed
}

// Restore writes the snapshot's subtree at sub ("" or "/": everything;
// otherwise a slash-separated path below the root, as "srv/www/index.html")
// into the existing directory target: a node named N becomes target/N.
// Errors on single items (a damaged chunk, a failing chown) are recorded in
// Result.Failed and the rest goes on; a file whose data cannot be read is
// removed rather than left with wrong bytes. Errors reading trees on the
// way to sub, and context errors, are returned.
func Restore(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, sub, target string, opts Options) (*Result, error) {
	return RestoreSubs(ctx, g, snap, []string{sub}, target, opts)
}

// RestoreSubs is Restore of several subtrees into target at once, so a
// file hard-linked from two of them is restored once, with both names.
// Subtrees whose nodes have the same name are restored one over the other
// in the order given (directories merged, other items replaced).
func RestoreSubs(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, subs []string, target string, opts Options) (*Result, error) {
	fd, err := unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", &os.PathError{Op: "open", Path: target, Err: err})
	}
	defer unix.Close(fd)
	return RestoreSubsAt(ctx, g, snap, subs, fd, target, opts)
}

// RestoreSubsAt is RestoreSubs into the open directory dir (O_PATH will
// do): every item is created and changed relative to dir, by *at calls,
// never by a lookup of dir's own path, so whatever happens to that path
// meanwhile (renamed, replaced by a symlink) the restore writes into dir
// only. Failures name items by name joined with their path below dir.
func RestoreSubsAt(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, subs []string, dir int, name string, opts Options) (*Result, error) {
	r := newRestorer(g, opts)
	r.base, r.show = dir, name
	type found struct {
		nodes []tree.Node
		base  string
	}
	var all []found
	for _, sub := range subs {
		nodes, base, err := find(ctx, g, snap.Tree, sub)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		all = append(all, found{nodes, base})
	}
	// The content workers; they return once the queue is closed and
	// empty, every file handed to them finished (written, or removed).
	var wg sync.WaitGroup
	wg.Add(r.workers)
	for range r.workers {
		go func() {
			defer wg.Done()
			r.worker(ctx)
		}()
	}
	root := &dirState{done: make(chan struct{})}
	root.pending.Store(1)
	for _, f := range all {
		for i := range f.nodes {
			r.node(ctx, &f.nodes[i], f.nodes[i].Name, path.Join(f.base, f.nodes[i].Name), root)
		}
	}
	r.release(ctx, root)
	r.q.close()
	wg.Wait()
	<-root.done // every directory's metadata set (or skipped on cancel)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r.res.Files, r.res.Dirs, r.res.Bytes = r.files.Load(), r.dirs.Load(), r.bytes.Load()
	return &r.res, nil
}

// find returns the nodes to restore, the root's or the one at sub, and
// the snapshot path of their directory.
func find(ctx context.Context, g tree.Getter, root fingerprint.ID, sub string) ([]tree.Node, string, error) {
	nodes, err := tree.Load(ctx, g, root)
	if err != nil {
		return nil, "", err
	}
	sub = strings.Trim(sub, "/")
	if sub == "" {
		return nodes, "", nil
	}
	elems := strings.Split(sub, "/")
	for i, e := range elems {
		var found *tree.Node
		for k := range nodes {
			if nodes[k].Name == e {
				found = &nodes[k]
			}
		}
		if found == nil {
			return nil, "", fmt.Errorf("%s: %w", strings.Join(elems[:i+1], "/"), os.ErrNotExist)
		}
		if i == len(elems)-1 {
			return []tree.Node{*found}, strings.Join(elems[:i], "/"), nil
		}
		if found.Type != tree.Dir {
			return nil, "", fmt.Errorf("%s: not a directory", strings.Join(elems[:i+1], "/"))
		}
		if nodes, err = tree.Load(ctx, g, found.Subtree); err != nil {
			return nil, "", err
		}
	}
	return nil, "", nil
}

// The walker (node, dir, and what they call) is one goroutine: it reads
// the trees and does every namespace operation (mkdir, the creating open
// of a regular file, symlink, mknod, link, removing what is in the way),
// one at a time, so no two creations contend for a directory's lock. A
// created regular file goes, open, to the content workers (Workers
// goroutines) through q; at most cap(slots) files are open at once, the
// walker waiting for a slot. Workers take a file's pieces (its data
// extents) from the head of the queue, so one large file is written by all
// of them; whoever finishes a file's last piece sets its size and metadata,
// closes it and tells its directory. A directory's metadata is set when
// its pending count falls to zero: its listing walked, and every file,
// extra hard-link name and sub-directory in it finished. The walker never
// waits for content.
type restorer struct {
	// base is the directory every path is relative to (AT_FDCWD: the
	// paths are absolute); show names it in failures.
	base               int
	show               string
	g                  tree.Getter
	batch              BatchGetter // g, when it reads runs in one request
	owners, devices    bool
	syncFiles          bool // fsync each file before it is closed (WriteImage)
	workers            int
	slots              chan struct{}          // one token per file created and not finished
	q                  jobQueue               // files created, content not yet all handed out
	links              map[string]*linkTarget // by snapshot path; the walker's alone
	bufs               chan []byte            // free chunk buffers (getBuf)
	files, dirs, bytes atomic.Int64
	mu                 sync.Mutex
	res                Result
}

func newRestorer(g tree.Getter, opts Options) *restorer {
	root := os.Geteuid() == 0
	r := &restorer{base: unix.AT_FDCWD, g: g, owners: root, devices: root, workers: opts.Workers, links: map[string]*linkTarget{}}
	r.batch, _ = g.(BatchGetter)
	if opts.Owners != nil {
		r.owners = *opts.Owners
	}
	if opts.Devices != nil {
		r.devices = *opts.Devices
	}
	if r.workers <= 0 {
		// Twice the cores: workers wait in writes and for bundles
		// (measured in the package doc).
		r.workers = 2 * runtime.GOMAXPROCS(0)
	}
	r.slots = make(chan struct{}, max(maxOpenMin, 4*r.workers))
	r.q.cond.L = &r.q.mu
	r.bufs = make(chan []byte, 2*r.workers)
	return r
}

// maxOpenMin is the least number of files open for writing at once: enough
// for the walker to run ahead of the workers through directories of small
// files.
const maxOpenMin = 64

func (r *restorer) fail(path string, err error) {
	r.mu.Lock()
	r.res.Failed = append(r.res.Failed, Failed{Path: r.display(path), Reason: err.Error()})
	r.mu.Unlock()
}

// display is how failures name the item at p (relative to base).
func (r *restorer) display(p string) string {
	if r.show == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.show, p)
}

// at is p for the path-only calls (the l*xattr family has no *at form
// before Linux 6.13): p itself, or p below base's /proc/self/fd name.
func (r *restorer) at(p string) string {
	if r.base == unix.AT_FDCWD || filepath.IsAbs(p) {
		return p
	}
	return "/proc/self/fd/" + strconv.Itoa(r.base) + "/" + p
}

// remove removes the item at p (relative to base), a directory only if
// it is empty.
func (r *restorer) remove(p string) error {
	err := unix.Unlinkat(r.base, p, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		err = unix.Unlinkat(r.base, p, unix.AT_REMOVEDIR)
	}
	return err
}

// dirState is a restored directory whose metadata is not set yet.
// pending counts what must finish first: one for the walker's listing,
// one per file or extra hard-link name in it not finished, one per
// sub-directory not finished.
type dirState struct {
	n       *tree.Node // nil for the target itself: no metadata
	dst     string
	parent  *dirState // nil for the target
	pending atomic.Int64
	done    chan struct{} // the target's only: closed when all is finished
}

// release ends one pending item of d: at zero, d's metadata is set (after
// its children's: their creation changes its times) and its parent is
// released in turn. Called by the walker and by the content workers.
func (r *restorer) release(ctx context.Context, d *dirState) {
	for ; d != nil; d = d.parent {
		if d.pending.Add(-1) != 0 {
			return
		}
		if d.n != nil && ctx.Err() == nil {
			r.meta(d.n, d.dst)
		}
		if d.done != nil {
			close(d.done)
		}
	}
}

// linkTarget is the first restored name of a multiply linked file. Later
// names are linked to it as soon as it exists (its content lands in them
// through the shared inode); if its content then fails, they are removed
// with it. state and extra are under mu: the walker links, the worker
// finishing the file settles them.
type linkTarget struct {
	path  string
	mu    sync.Mutex
	state linkState
	extra []linkName // linked while pending
}

type linkState int

const (
	linkPending linkState = iota // content being written
	linkOK
	linkFailed // removed: a later name writes the content itself
)

type linkName struct {
	dst    string
	parent *dirState
}

// node restores n, whose snapshot path is rel, at dst, in directory
// parent. A regular file is created here and written by the workers.
func (r *restorer) node(ctx context.Context, n *tree.Node, dst, rel string, parent *dirState) {
	if ctx.Err() != nil {
		return
	}
	var err error
	switch n.Type {
	case tree.Dir:
		err = r.dir(ctx, n, dst, rel, parent)
	case tree.File, tree.Image:
		err = r.startFile(ctx, n, dst, rel, n.Links > 1, parent)
	case tree.Hardlink:
		err = r.hardlink(ctx, n, dst, parent)
	case tree.Symlink:
		err = r.replace(dst, func() error { return unix.Symlinkat(n.LinkTarget, r.base, dst) })
		if err == nil {
			r.files.Add(1)
			r.meta(n, dst)
		}
	case tree.CharDev, tree.BlockDev, tree.FIFO:
		err = r.special(n, dst)
	case tree.Socket:
		err = errors.New("sockets are not restored")
	}
	if err != nil {
		r.fail(dst, err)
	}
}

// replace runs mk, which creates dst; if something is in the way, it is
// removed and mk run again (not removed first: into a fresh target that
// would be a wasted lookup per item).
func (r *restorer) replace(dst string, mk func() error) error {
	err := mk()
	if errors.Is(err, os.ErrExist) {
		_ = r.remove(dst)
		err = mk()
	}
	return err
}

// startFile creates the regular file dst and queues its content for the
// workers; a multiply linked one (link) is registered under the snapshot
// path key for its later names. It waits for a free slot, or for ctx to
// end (then nothing is created; Restore returns ctx's error).
func (r *restorer) startFile(ctx context.Context, n *tree.Node, dst, key string, link bool, parent *dirState) error {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	f, err := r.create(dst)
	if err != nil {
		<-r.slots
		return err
	}
	j := &fileJob{n: n, f: f, dst: dst, parent: parent, pieces: pieces(n.Content)}
	j.left.Store(int64(j.count()))
	if link {
		j.lt = &linkTarget{path: dst}
		r.links[key] = j.lt
	}
	parent.pending.Add(1)
	r.q.push(j)
	return nil
}

func (r *restorer) dir(ctx context.Context, n *tree.Node, dst, rel string, parent *dirState) error {
	if err := r.mkdir(dst); err != nil {
		return err
	}
	nodes, err := tree.Load(ctx, r.g, n.Subtree)
	if err != nil {
		return err
	}
	r.dirs.Add(1)
	d := &dirState{n: n, dst: dst, parent: parent}
	d.pending.Store(1) // the listing, released below
	parent.pending.Add(1)
	for i := range nodes {
		r.node(ctx, &nodes[i], filepath.Join(dst, nodes[i].Name), rel+"/"+nodes[i].Name, d)
	}
	r.release(ctx, d)
	return nil
}

// mkdir makes the directory dst, or keeps one that is there (an earlier
// subtree's of the same name): something else there is replaced, never
// followed (a symlink of an earlier subtree would lead the restore out of
// the target).
func (r *restorer) mkdir(dst string) error {
	err := unix.Mkdirat(r.base, dst, 0o700)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(r.base, dst, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil
	}
	if err := r.remove(dst); err != nil {
		return err
	}
	return unix.Mkdirat(r.base, dst, 0o700)
}

func (r *restorer) special(n *tree.Node, dst string) error {
	mode := uint32(n.Mode)
	switch n.Type {
	case tree.CharDev:
		mode |= unix.S_IFCHR
	case tree.BlockDev:
		mode |= unix.S_IFBLK
	case tree.FIFO:
		mode |= unix.S_IFIFO
	}
	if n.Type != tree.FIFO && !r.devices {
		return errors.New("device nodes are restored only as root")
	}
	if err := r.replace(dst, func() error { return unix.Mknodat(r.base, dst, mode, int(n.Rdev)) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	r.files.Add(1)
	r.meta(n, dst)
	return nil
}

// hardlink links dst to the restored first name of the file, even while
// that one's content is still being written; when the first name is not
// part of this restore (or failed), it writes the content and becomes the
// first name for later links.
func (r *restorer) hardlink(ctx context.Context, n *tree.Node, dst string, parent *dirState) error {
	if lt, ok := r.links[n.LinkTarget]; ok {
		if done, err := r.link(lt, dst, parent); done {
			return err
		}
	}
	f := *n
	f.Type = tree.File
	return r.startFile(ctx, &f, dst, n.LinkTarget, true, parent)
}

// link makes dst a name of lt's file unless that failed (done false).
func (r *restorer) link(lt *linkTarget, dst string, parent *dirState) (done bool, err error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.state == linkFailed {
		return false, nil
	}
	if err := r.replace(dst, func() error { return unix.Linkat(r.base, lt.path, r.base, dst, 0) }); err != nil {
		return true, err
	}
	if lt.state == linkOK {
		r.files.Add(1)
		return true, nil
	}
	// Counted, or removed, when the content is settled; the directory's
	// metadata waits for that.
	parent.pending.Add(1)
	lt.extra = append(lt.extra, linkName{dst, parent})
	return true, nil
}

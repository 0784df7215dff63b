package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"keep/engine/fingerprint"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// Options tune a restore.
type Options struct {
	// Owners restores uid/gid (lchown); Devices creates device nodes.
	// Both need root; nil: whether the process runs as root.
	Owners, Devices *bool
	// Workers is how many files are written at once, and how many
	// chunks at once within a file; zero: GOMAXPROCS.
	Workers int
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
	r := newRestorer(g, opts)
	nodes, base, err := find(ctx, g, snap.Tree, sub)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	var wg sync.WaitGroup
	for i := range nodes {
		r.node(ctx, &nodes[i], filepath.Join(target, nodes[i].Name), path.Join(base, nodes[i].Name), &wg)
	}
	wg.Wait()
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

type restorer struct {
	g                  tree.Getter
	owners, devices    bool
	workers            int
	sem                chan struct{}          // one token per file being written
	links              map[string]*linkTarget // by snapshot path; the walker's alone
	bufs               chan []byte            // free chunk buffers (getBuf)
	files, dirs, bytes atomic.Int64
	mu                 sync.Mutex
	res                Result
}

func newRestorer(g tree.Getter, opts Options) *restorer {
	root := os.Geteuid() == 0
	r := &restorer{g: g, owners: root, devices: root, workers: opts.Workers, links: map[string]*linkTarget{}}
	if opts.Owners != nil {
		r.owners = *opts.Owners
	}
	if opts.Devices != nil {
		r.devices = *opts.Devices
	}
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	r.sem = make(chan struct{}, r.workers)
	r.bufs = make(chan []byte, 2*r.workers)
	return r
}

func (r *restorer) fail(path string, err error) {
	r.mu.Lock()
	r.res.Failed = append(r.res.Failed, Failed{Path: path, Reason: err.Error()})
	r.mu.Unlock()
}

// linkTarget is a restored (or being restored) multiply linked file:
// path and ok are set before done is closed.
type linkTarget struct {
	done chan struct{}
	path string
	ok   bool
}

// node restores n, whose snapshot path is rel, at dst. Regular files are
// written by other goroutines (at most Workers at once); wg tracks them so
// the directory's metadata is set after them.
func (r *restorer) node(ctx context.Context, n *tree.Node, dst, rel string, wg *sync.WaitGroup) {
	if ctx.Err() != nil {
		return
	}
	var err error
	switch n.Type {
	case tree.Dir:
		err = r.dir(ctx, n, dst, rel)
	case tree.File, tree.Image:
		r.fileAsync(ctx, n, dst, rel, wg)
	case tree.Hardlink:
		err = r.hardlink(ctx, n, dst, rel, wg)
	case tree.Symlink:
		_ = os.Remove(dst)
		if err = os.Symlink(n.LinkTarget, dst); err == nil {
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

// fileAsync writes a file in another goroutine; a multiply linked one is
// registered (under the snapshot path key) for its later names first.
func (r *restorer) fileAsync(ctx context.Context, n *tree.Node, dst, key string, wg *sync.WaitGroup) {
	var lt *linkTarget
	if n.Links > 1 || n.Type == tree.Hardlink {
		lt = &linkTarget{done: make(chan struct{}), path: dst}
		r.links[key] = lt
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		if lt != nil {
			close(lt.done)
		}
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-r.sem }()
		err := r.file(ctx, n, dst)
		if err != nil {
			r.fail(dst, err)
		}
		if lt != nil {
			lt.ok = err == nil
			close(lt.done)
		}
	}()
}

func (r *restorer) dir(ctx context.Context, n *tree.Node, dst, rel string) error {
	if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	nodes, err := tree.Load(ctx, r.g, n.Subtree)
	if err != nil {
		return err
	}
	r.dirs.Add(1)
	var wg sync.WaitGroup
	for i := range nodes {
		r.node(ctx, &nodes[i], filepath.Join(dst, nodes[i].Name), rel+"/"+nodes[i].Name, &wg)
	}
	wg.Wait()
	r.meta(n, dst) // after the children: their creation changes the times
	return nil
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
	_ = os.Remove(dst)
	if err := unix.Mknod(dst, mode, int(n.Rdev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	r.files.Add(1)
	r.meta(n, dst)
	return nil
}

// hardlink links dst to the restored first name of the file, or, when
// that is not part of this restore (or failed), writes the content and
// becomes the first name for later links.
func (r *restorer) hardlink(ctx context.Context, n *tree.Node, dst, rel string, wg *sync.WaitGroup) error {
	if first, ok := r.links[n.LinkTarget]; ok {
		<-first.done
		if first.ok {
			_ = os.Remove(dst)
			if err := os.Link(first.path, dst); err != nil {
				return err
			}
			r.files.Add(1)
			return nil
		}
	}
	f := *n
	f.Type = tree.File
	r.fileAsync(ctx, &f, dst, n.LinkTarget, wg)
	return nil
}

package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"keep/engine/fingerprint"
	"keep/engine/tree"
)

// dirList is a directory's nodes being built. A File or Hardlink node's
// content comes from its job once that is done.
type dirList struct {
	nodes []tree.Node
	jobs  []*fileJob
	paths []string
}

func (dl *dirList) add(n tree.Node, j *fileJob, path string) {
	dl.nodes = append(dl.nodes, n)
	dl.jobs = append(dl.jobs, j)
	dl.paths = append(dl.paths, path)
}

// fileJob is the content of one file: read by a worker, or taken from the
// parent snapshot; or the tree of a subdirectory (subtree). done is closed
// when content, size (or subtree) and err are set.
type fileJob struct {
	path, rel string
	done      chan struct{}
	content   []tree.Extent
	size      uint64
	subtree   fingerprint.ID
	err       error
	meta      *unix.Stat_t // a file's fstat at the open its content is of, when it differs from the walk's lstat
}

// dir walks the directory at path and returns the job of its tree: the
// walk (listing, lstat, hard-link discovery) stays in the walker's
// goroutine and in tree order, but waiting for the files' contents and
// storing the tree happen in another goroutine, so the walker goes on
// into the next directory instead of draining the pipeline at the end of
// each one. An error reading the directory itself is returned for the
// caller to skip it; fatal errors are recorded with fail (and the job
// fails with them).
func (a *archiver) dir(ctx context.Context, path, rel string, parent map[string]*tree.Node) (*fileJob, error) {
	f, err := openNoatime(path) // listing must not touch the atime the tree records
	if err != nil {
		return nil, err
	}
	// Open while its entries are stat'ed: relative to it, the kernel
	// looks up one name instead of the whole path each time (the path
	// walks were a tenth of an incremental backup's CPU).
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	dirfd := int(f.Fd())
	slices.Sort(names)
	subs := subtrees(parent)
	a.parents.start(ctx, a.store, subs)
	dl := &dirList{}
walk:
	for lo := 0; lo < len(names); lo += statBatch {
		batch := names[lo:min(lo+statBatch, len(names))]
		ents := a.statAll(dirfd, path, rel, batch, parent)
		for i, name := range batch {
			if a.stopped(ctx) {
				break walk
			}
			a.addEntry(ctx, dl, name, path+"/"+name, rel+"/"+name, parent[name], &ents[i])
		}
	}
	a.parents.forget(subs)
	job := &fileJob{path: path, done: make(chan struct{})}
	go func() {
		defer close(job.done)
		job.subtree, job.err = a.finishDir(ctx, dl)
	}()
	return job, nil
}

func (a *archiver) stopped(ctx context.Context) bool {
	if err := ctx.Err(); err != nil {
		a.fail(err)
		return true
	}
	return a.fatalErr() != nil
}

// entryStat is what the walker needs of a directory entry before it
// adds it: its lstat, whether the patterns exclude it, and its node
// (metadata and xattrs), or the error that skips it.
type entryStat struct {
	st       unix.Stat_t
	excluded bool
	node     tree.Node
	err      error
}

// stat fills e for path (named name, at rel in the snapshot), in the
// directory open as dirfd (unix.AT_FDCWD: none, path is looked up whole);
// pn is its node in the parent snapshot, if any.
func (a *archiver) stat(e *entryStat, dirfd int, name, path, rel string, pn *tree.Node) {
	at := name
	if dirfd == unix.AT_FDCWD {
		at = path
	}
	if err := unix.Fstatat(dirfd, at, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		e.err = fmt.Errorf("lstat: %w", err)
		return
	}
	// The paths given are always backed up; the patterns apply below
	// them (a root entry's rel is its name alone).
	if strings.Contains(rel, "/") && a.filter.excluded(path, e.st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		e.excluded = true
		return
	}
	e.node, e.err = a.nodeOf(name, path, &e.st, pn)
}

// statBatch: a directory's entries are stat'ed this many at a time, so a
// directory of tens of thousands of files holds the lstat results and
// nodes of one batch beside its list, not of every entry twice (6.8 MiB
// of them for the benchmark corpus's largest directory).
const statBatch = 512

// statParallelMin: directories with fewer entries are stat'ed by the
// walker alone; larger ones by Workers goroutines (the walker among
// them). lstat and the xattr calls are most of an incremental backup's
// time, and the walk is otherwise one goroutine.
const statParallelMin = 8

// statAll stats the entries names of the directory at path (rel), open
// as dirfd; parent is the directory's nodes in the parent snapshot.
func (a *archiver) statAll(dirfd int, path, rel string, names []string, parent map[string]*tree.Node) []entryStat {
	ents := make([]entryStat, len(names))
	one := func(i int) {
		a.stat(&ents[i], dirfd, names[i], path+"/"+names[i], rel+"/"+names[i], parent[names[i]])
	}
	workers := min(a.opts.Workers, len(names)/(statParallelMin/2))
	if len(names) < statParallelMin || workers < 2 {
		for i := range names {
			one(i)
		}
		return ents
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	work := func() {
		for i := int(next.Add(1) - 1); i < len(names); i = int(next.Add(1) - 1) {
			one(i)
		}
	}
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	return ents
}

// entry adds the node for path (named name, at rel in the snapshot) to dl;
// pn is its node in the parent snapshot, if any.
func (a *archiver) entry(ctx context.Context, dl *dirList, name, path, rel string, pn *tree.Node) {
	var e entryStat
	a.stat(&e, unix.AT_FDCWD, name, path, rel, pn)
	a.addEntry(ctx, dl, name, path, rel, pn, &e)
}

// addEntry is entry with the entry stat'ed.
func (a *archiver) addEntry(ctx context.Context, dl *dirList, name, path, rel string, pn *tree.Node, e *entryStat) {
	st := &e.st
	if e.excluded {
		a.exclude(path, st)
		return
	}
	if e.err != nil {
		a.skip(path, e.err)
		return
	}
	node := e.node
	switch node.Type {
	case tree.Dir:
		a.c.dirs.Add(1)
		var sub map[string]*tree.Node
		if pn != nil && pn.Type == tree.Dir {
			sub = a.parentDir(ctx, pn.Subtree, path)
		}
		job, err := a.dir(ctx, path, rel, sub)
		if err != nil {
			if a.fatalErr() == nil {
				a.skip(path, fmt.Errorf("read directory: %w", err))
			}
			return
		}
		dl.add(node, job, path) // the subtree comes from job
	case tree.File:
		a.c.files.Add(1)
		key := inodeKey{node.Device, node.Inode}
		if node.Links > 1 {
			if first, ok := a.links[key]; ok {
				node.Type, node.LinkTarget, node.Size = tree.Hardlink, first.rel, 0
				dl.add(node, first, path)
				return
			}
		}
		a.c.bytesSeen.Add(int64(node.Size))
		job := &fileJob{path: path, rel: strings.TrimPrefix(rel, "/"), done: make(chan struct{})}
		if node.Links > 1 {
			a.links[key] = job
		}
		dl.add(node, job, path)
		if pn != nil && (pn.Type == tree.File || pn.Type == tree.Hardlink) && unchanged(pn, &node) && a.present(pn.Content) {
			a.c.filesUnchanged.Add(1)
			job.content, job.size = pn.Content, pn.Size
			close(job.done)
			return
		}
		if pn != nil {
			a.c.filesChanged.Add(1)
		} else {
			a.c.filesNew.Add(1)
		}
		a.async(ctx, job, func(release func()) ([]tree.Extent, uint64, error) { return a.readFile(ctx, path, st, job, release) })
	default:
		a.c.files.Add(1)
		dl.add(node, nil, path)
	}
}

// unchanged reports whether a file's metadata matches its parent node.
func unchanged(pn, n *tree.Node) bool {
	return pn.Size == n.Size && pn.MTime == n.MTime && pn.CTime == n.CTime && pn.Inode == n.Inode
}

// present reports whether the repository still has every chunk of content.
func (a *archiver) present(content []tree.Extent) bool {
	for _, e := range content {
		if !e.Hole && !a.store.Has(dataBlob, e.ID) {
			return false
		}
	}
	return true
}

// finishDir waits for dl's file and subdirectory jobs, drops the files
// that failed and stores the directory's tree. A subdirectory's job fails
// only with a fatal error, which fails this one too.
func (a *archiver) finishDir(ctx context.Context, dl *dirList) (fingerprint.ID, error) {
	nodes := dl.nodes[:0]
	for i, n := range dl.nodes {
		if j := dl.jobs[i]; j != nil {
			<-j.done
			if j.err != nil {
				if (n.Type == tree.File || n.Type == tree.Image) && j.err != errAborted {
					a.skip(j.path, j.err)
				} else if n.Type == tree.Hardlink {
					a.skip(dl.paths[i], fmt.Errorf("hard link to unreadable %s", j.path))
				}
				continue
			}
			if n.Type == tree.Dir {
				n.Subtree = j.subtree
			} else {
				n.Content, n.Size = j.content, j.size
				if m := j.meta; m != nil {
					// Changed since the walk's lstat: the times of the
					// open the content is of, and the xattrs read again
					// (after it, so no older than that ctime).
					n.MTime, n.CTime, n.Inode = m.Mtim.Nano(), m.Ctim.Nano(), m.Ino
					if x, err := xattrs(j.path); err == nil {
						n.Xattrs = x
					}
				}
			}
		}
		nodes = append(nodes, n)
	}
	if err := a.fatalErr(); err != nil {
		return fingerprint.ID{}, err
	}
	slices.SortFunc(nodes, func(x, y tree.Node) int { return strings.Compare(x.Name, y.Name) })
	// Trees are stored at most Workers at once: every directory the
	// walker finished may be waiting here.
	a.treeSem <- struct{}{}
	id, err := a.saver.Save(ctx, nodes)
	<-a.treeSem
	if err != nil {
		a.fail(err)
		return fingerprint.ID{}, err
	}
	return id, nil
}

package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
// parent snapshot. done is closed when content, size and err are set.
type fileJob struct {
	path, rel string
	done      chan struct{}
	content   []tree.Extent
	size      uint64
	err       error
}

// dir archives the directory at path and returns its tree ID. An error
// reading the directory itself is returned for the caller to skip it;
// fatal errors are recorded with fail (and returned).
func (a *archiver) dir(ctx context.Context, path, rel string, parent map[string]*tree.Node) (fingerprint.ID, error) {
	f, err := openNoatime(path) // listing must not touch the atime the tree records
	if err != nil {
		return fingerprint.ID{}, err
	}
	names, err := f.Readdirnames(-1)
	_ = f.Close()
	if err != nil {
		return fingerprint.ID{}, err
	}
	slices.Sort(names)
	dl := &dirList{}
	for _, name := range names {
		if a.stopped(ctx) {
			break
		}
		a.entry(ctx, dl, name, path+"/"+name, rel+"/"+name, parent[name])
	}
	return a.finishDir(ctx, dl)
}

func (a *archiver) stopped(ctx context.Context) bool {
	if err := ctx.Err(); err != nil {
		a.fail(err)
		return true
	}
	return a.fatalErr() != nil
}

// entry adds the node for path (named name, at rel in the snapshot) to dl;
// pn is its node in the parent snapshot, if any.
func (a *archiver) entry(ctx context.Context, dl *dirList, name, path, rel string, pn *tree.Node) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		a.skip(path, fmt.Errorf("lstat: %w", err))
		return
	}
	// The paths given are always backed up; the patterns apply below
	// them (a root entry's rel is its name alone).
	if strings.Contains(rel, "/") && a.filter.excluded(path, st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		a.exclude(path, &st)
		return
	}
	node, err := a.nodeOf(name, path, &st)
	if err != nil {
		a.skip(path, err)
		return
	}
	switch node.Type {
	case tree.Dir:
		a.c.dirs.Add(1)
		var sub map[string]*tree.Node
		if pn != nil && pn.Type == tree.Dir {
			sub = a.parentDir(ctx, pn.Subtree, path)
		}
		id, err := a.dir(ctx, path, rel, sub)
		if a.fatalErr() != nil {
			return
		}
		if err != nil {
			a.skip(path, fmt.Errorf("read directory: %w", err))
			return
		}
		node.Subtree = id
		dl.add(node, nil, path)
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
		a.async(ctx, job, func() ([]tree.Extent, uint64, error) { return a.readFile(ctx, path, &st) })
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

// finishDir waits for dl's file jobs, drops the files that failed and
// stores the directory's tree.
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
			n.Content, n.Size = j.content, j.size
		}
		nodes = append(nodes, n)
	}
	if err := a.fatalErr(); err != nil {
		return fingerprint.ID{}, err
	}
	slices.SortFunc(nodes, func(x, y tree.Node) int { return strings.Compare(x.Name, y.Name) })
	id, err := a.saver.Save(ctx, nodes)
	if err != nil {
		a.fail(err)
		return fingerprint.ID{}, err
	}
	return id, nil
}

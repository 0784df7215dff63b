package backup

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/tree"
)

// nodeOf builds the node of path from its lstat: type, mode, owners,
// times, identity, device number, link target and xattrs. Content and
// subtrees are the caller's. pn is the entry's node in the parent snapshot
// (nil: none): if it is of the same type, inode and ctime, its xattrs and
// link target are taken instead of read (setting or removing an xattr sets
// the ctime, and a symlink's target never changes; reading them was a
// tenth of an unchanged tree's incremental backup).
func (a *archiver) nodeOf(name, path string, st *unix.Stat_t, pn *tree.Node) (tree.Node, error) {
	n := tree.Node{
		Name: name, Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
		User: a.users.user(st.Uid), Group: a.users.group(st.Gid),
		MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano(), ATime: st.Atim.Nano(),
		Inode: st.Ino, Device: st.Dev, Links: uint64(st.Nlink),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		n.Type, n.Size = tree.File, uint64(st.Size)
	case unix.S_IFDIR:
		n.Type = tree.Dir
	case unix.S_IFLNK:
		// readlink(2) updates the link's atime, so recording it would
		// change the directory's tree on every backup: a symlink's atime
		// is recorded as its mtime.
		n.Type, n.ATime = tree.Symlink, n.MTime
	case unix.S_IFCHR:
		n.Type, n.Rdev = tree.CharDev, st.Rdev
	case unix.S_IFBLK:
		n.Type, n.Rdev = tree.BlockDev, st.Rdev
	case unix.S_IFIFO:
		n.Type = tree.FIFO
	case unix.S_IFSOCK:
		n.Type = tree.Socket
	default:
		return n, fmt.Errorf("unknown file type %o", st.Mode&unix.S_IFMT)
	}
	if a.metaReusable(pn, &n, st) {
		n.LinkTarget, n.Xattrs = pn.LinkTarget, pn.Xattrs
		return n, nil
	}
	if a.opts.readMeta != nil {
		a.opts.readMeta(path)
	}
	if n.Type == tree.Symlink {
		t, err := os.Readlink(path)
		if err != nil {
			return n, fmt.Errorf("readlink: %w", err)
		}
		n.LinkTarget = t
	}
	x, err := xattrs(path)
	if err != nil {
		return n, err
	}
	n.Xattrs = x
	return n, nil
}

// metaReusable reports whether n (from the lstat st) may take its xattrs
// and link target from its parent node pn: same type, inode and ctime, the
// ctime a second or more before the parent backup started (on a
// filesystem with coarse timestamps a change in the same second as the
// parent's read keeps the ctime: as racy git does), and for a symlink a
// target of the length it has now.
func (a *archiver) metaReusable(pn, n *tree.Node, st *unix.Stat_t) bool {
	p := a.opts.Parent
	if pn == nil || p == nil || pn.Type != n.Type || pn.Inode != n.Inode || pn.CTime != n.CTime {
		return false
	}
	if pn.CTime >= p.Time.UnixNano()-int64(time.Second) {
		return false
	}
	return n.Type != tree.Symlink || int64(len(pn.LinkTarget)) == st.Size
}

// xattrs reads path's extended attributes (not following symlinks),
// sorted by name. A filesystem without xattrs has none.
func xattrs(path string) ([]tree.Xattr, error) {
	buf := make([]byte, 1024)
	var sz int
	for {
		n, err := unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		sz = n
		break
	}
	var names []string
	for b := buf[:sz]; len(b) > 0; {
		i := slices.Index(b, 0)
		if i < 0 {
			i = len(b)
		}
		if i > 0 {
			names = append(names, string(b[:i]))
		}
		b = b[min(i+1, len(b)):]
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]tree.Xattr, 0, len(names))
	val := make([]byte, 4096)
	for _, name := range names {
		for {
			n, err := unix.Lgetxattr(path, name, val)
			if errors.Is(err, unix.ERANGE) {
				val = make([]byte, 2*len(val))
				continue
			}
			if errors.Is(err, unix.ENODATA) {
				break // removed meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("xattr %s: %w", name, err)
			}
			if len(name) > tree.MaxXattrName || n > tree.MaxXattrValue {
				return nil, fmt.Errorf("xattr %s: too large for the tree format", name)
			}
			out = append(out, tree.Xattr{Name: name, Value: slices.Clone(val[:n])})
			break
		}
	}
	return out, nil
}

// owners caches uid and gid names.
type owners struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func newOwners() *owners {
	return &owners{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (o *owners) user(uid uint32) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.users[uid]; ok {
		return s
	}
	var s string
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil && len(u.Username) <= tree.MaxName {
		s = u.Username
	}
	o.users[uid] = s
	return s
}

func (o *owners) group(gid uint32) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.groups[gid]; ok {
		return s
	}
	var s string
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil && len(g.Name) <= tree.MaxName {
		s = g.Name
	}
	o.groups[gid] = s
	return s
}

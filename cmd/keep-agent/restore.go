package main

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/agentproto"
	"keep/engine/browse"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// overwrite policies of restore.
const (
	overwriteNever   = "never"
	overwriteAlways  = "always"
	overwriteIfNewer = "if-newer"
)

const stagingPrefix = ".keep-restore-"

func runRestore(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "restore", "restore SNAPSHOT [PATH...] (--target DIR | --in-place) [--overwrite never|always|if-newer] [--client NAME]\n"+
		"       keep-agent restore SNAPSHOT IMAGE --to FILE|DEVICE [--client NAME]\n\n"+
		"Restores a snapshot, or PATHs in it, with contents, owners (as root), modes, times,\n"+
		"xattrs, hard links, symlinks, FIFOs, device nodes (as root) and sparse files' holes.\n"+
		"PATH is an original absolute path (/srv/www/index.html) or a path from the snapshot's\n"+
		"root as \"ls\" prints it (www/index.html).\n\n"+
		"  --target DIR  out of place: a backed-up path /srv/www becomes DIR/www\n"+
		"                (default --overwrite always: existing files in DIR are replaced)\n"+
		"  --in-place    back to the original locations (default --overwrite never: existing\n"+
		"                files are kept; if-newer replaces those older than the snapshot's)\n"+
		"  --to DEST     write one image (or file) node into a block device, or to a file\n\n"+
		"Items are restored into a staging directory on their destination's filesystem and then\n"+
		"moved into place, so a file is replaced whole or not at all.\n\n"+
		"As root, into directories users can change (their homes), the restore guards against\n"+
		"a user redirecting it while it runs: it works in directories it holds open; stages\n"+
		"where only root can rename (on a user's own filesystem: in the destination, root's,\n"+
		"checked new); follows only root's symlinks in root's directories; merges into an\n"+
		"existing directory only if it has the snapshot's owner (and, where another user could\n"+
		"have moved it there, is the very directory backed up, as it must be to go through it\n"+
		"at all); renames a directory the snapshot has a file in place of to\n"+
		"NAME.keep-replaced-* rather than deleting it; and refuses paths through group- or\n"+
		"world-writable directories without the sticky bit, and FUSE filesystems. What it\n"+
		"leaves alone it reports.\n\n"+
		"Policy: an agent reads its own client's snapshots; the vault refuses another\n"+
		"client's (\"not found\") unless an operator granted this client reads of them for a\n"+
		"while (on the vault: keep ctl grant-restore THIS-CLIENT --from OTHER). Then\n"+
		"--client OTHER restores OTHER's snapshots here (\"latest\" is OTHER's latest), onto\n"+
		"a replacement machine or for a test restore.")
	target := fs.String("target", "", "restore into directory `DIR` (created if missing)")
	inPlace := fs.Bool("in-place", false, "restore to the original paths")
	to := fs.String("to", "", "write the image node PATH into block device or file `DEST`")
	policy := fs.String("overwrite", "", "what to do with existing items: never, always or if-newer")
	quiet := fs.Bool("quiet", false, "print only failures")
	clientF := clientFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usagef("expected SNAPSHOT [PATH...]")
	}
	modes := 0
	for _, b := range []bool{*target != "", *inPlace, *to != ""} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of --target DIR, --in-place or --to DEST")
	}
	if *to != "" && len(pos) != 2 {
		return usagef("--to writes one image: give SNAPSHOT and the image's PATH")
	}
	switch *policy {
	case "":
		*policy = overwriteAlways
		if *inPlace {
			*policy = overwriteNever
		}
	case overwriteNever, overwriteAlways, overwriteIfNewer:
	default:
		return usagef("--overwrite %q: give never, always or if-newer", *policy)
	}

	c, s, err := connectTo(ctx, *dir, pos[0], *clientF)
	if err != nil {
		return err
	}
	defer c.Close()
	rd, err := c.OpenRestore(ctx, s.ID, "", hostname())
	if err != nil {
		return err
	}
	snap := rd.Snapshot()
	var subs []string
	for _, p := range pos[1:] {
		subs = append(subs, browse.SnapPath(snap, p))
	}
	if len(subs) == 0 {
		// A whole snapshot: let the vault learn its trees ahead of the
		// walk, so it can send the bundles of small files whole.
		rd.LearnTrees(ctx, snap.Tree)
	}
	r := &restorer{ctx: ctx, g: rd, snap: snap, policy: *policy}
	var runErr error
	switch {
	case *to != "":
		res, err := r.writeImage(subs[0], *to)
		if err == nil {
			r.res.Bytes += res.Bytes
			r.res.Failed = append(r.res.Failed, res.Failed...)
			r.written++
		}
		runErr = err
	case *target != "":
		runErr = r.outOfPlace(*target, subs)
	default:
		runErr = r.inPlace(subs)
	}
	var failed []agentproto.SkippedItem
	for _, f := range r.res.Failed {
		failed = append(failed, agentproto.SkippedItem{Path: f.Path, Reason: f.Reason})
	}
	if ferr := rd.Finish(context.WithoutCancel(ctx), failed, runErr); ferr != nil && runErr == nil {
		fmt.Fprintf(e.stderr, "warning: the vault's job record could not be completed: %v\n", ferr)
	}
	if runErr != nil {
		return fmt.Errorf("restore of snapshot %s failed: %w", snap.ID.Short(), runErr)
	}
	if !*quiet {
		fmt.Fprintf(e.stdout, "restored snapshot %s: %d files, %d directories, %s written; %d items placed, %d replaced, %d kept (--overwrite %s)\n",
			snap.ID.Short(), r.res.Files, r.res.Dirs, human(r.res.Bytes), r.written, r.replaced, r.kept, *policy)
	}
	for _, a := range r.aside {
		fmt.Fprintf(e.stdout, "a directory the snapshot has a file in place of was kept, renamed: %s\n", a)
	}
	if n := len(r.res.Failed); n > 0 {
		fmt.Fprintf(e.stdout, "%d items were not restored:\n", n)
		for _, f := range r.res.Failed {
			fmt.Fprintf(e.stdout, "  %s: %s\n", f.Path, f.Reason)
		}
		return &exitError{exitSkipped}
	}
	return nil
}

type restorer struct {
	ctx    context.Context
	g      tree.Getter
	snap   *snapshot.Snapshot
	policy string
	root   string // a test seam: where "/" is for --in-place ("": /)
	// Test seams: staged is called with a staging directory's path once
	// it is made, merging with an existing directory's once it is open
	// for merging into (a user swapping them for symlinks then).
	staged, merging func(path string)

	res                     restore.Result
	written, replaced, kept int
	aside                   []string    // directories replaced by files, as root: renamed to these
	stages                  [][2]uint64 // the staging directories in use: device, inode
}

func (r *restorer) add(res *restore.Result) {
	r.res.Files += res.Files
	r.res.Dirs += res.Dirs
	r.res.Bytes += res.Bytes
	r.res.Failed = append(r.res.Failed, res.Failed...)
}

func (r *restorer) fail(p, reason string) {
	r.res.Failed = append(r.res.Failed, restore.Failed{Path: p, Reason: reason})
}

// writeImage writes the image (or file) sub to the block device or file
// to. As root, to is resolved as openDest resolves a destination (a
// symlink is followed only if root's, in a directory only root can change:
// /dev/disk/by-id names) and then written through the directory it is in,
// held open, not followed again: a user cannot point it at a disk.
func (r *restorer) writeImage(sub, to string) (*restore.Result, error) {
	if os.Geteuid() != 0 {
		return restore.WriteImage(r.ctx, r.g, r.snap, sub, to, restore.Options{})
	}
	abs, err := filepath.Abs(to)
	if err != nil {
		return nil, err
	}
	dir, name, err := resolveLast(abs)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	at := fdPath(dir) + "/" + name
	res, err := restore.WriteImage(r.ctx, r.g, r.snap, sub, at, restore.Options{NoFollow: true})
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), at, to))
	}
	return res, nil
}

// resolveLast resolves p as openDest does, its last element too: the
// directory holding what p names (open) and its name there, which is not
// a symlink, or does not exist, when this returns.
func resolveLast(p string) (int, string, error) {
	for links := 0; ; links++ {
		dir, err := openDest(filepath.Dir(p), nil)
		if err != nil {
			return -1, "", err
		}
		name := filepath.Base(p)
		var st, dst unix.Stat_t
		err = unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return dir, name, nil // missing, or not a link: WriteImage says which
		}
		target, rerr := readlinkAt(dir, name)
		ferr := unix.Fstat(dir, &dst)
		if rerr == nil && ferr == nil {
			ferr = followRefused(p, &st, &dst)
		}
		real, _ := os.Readlink(fdPath(dir)) // the directory's own path, symlinks resolved
		_ = unix.Close(dir)
		switch {
		case errors.As(ferr, new(*refusedError)):
			return -1, "", ferr
		case rerr != nil || ferr != nil:
			return -1, "", fmt.Errorf("%s: %w", p, cmp.Or(rerr, ferr))
		case links == 40:
			return -1, "", &fs.PathError{Op: "open", Path: p, Err: unix.ELOOP}
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(cmp.Or(real, filepath.Dir(p)), target)
		}
		p = target
	}
}

// outOfPlace restores subs (everything: nil) into target through one
// staging directory inside it, so hard links between them are kept.
func (r *restorer) outOfPlace(target string, subs []string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	fd, err := openDest(target, nil)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if len(subs) == 0 {
		subs = []string{""}
	}
	return r.stageAndMerge(subs, fd, target, "", true)
}

// inPlace restores each sub (everything: each backed-up path) to where
// it was backed up from.
func (r *restorer) inPlace(subs []string) error {
	if len(subs) == 0 {
		es, err := browse.List(r.ctx, r.g, r.snap, "")
		if err != nil {
			return err
		}
		for _, en := range es {
			subs = append(subs, strings.TrimPrefix(en.Path, "/"))
		}
	}
	for _, sub := range subs {
		orig := browse.OrigPath(r.snap, sub)
		if orig == "" || sub == "" {
			r.fail("/"+sub, "no original location (a stream, or not under a backed-up path): restore it with --target or write it with cat")
			continue
		}
		dst := filepath.Join(cmp.Or(r.root, "/"), orig)
		parent := filepath.Dir(dst)
		fd, err := openDest(parent, r.backedUp)
		var refused *refusedError
		if errors.As(err, &refused) {
			r.fail("/"+sub, err.Error())
			continue
		} else if err != nil {
			return err
		}
		// Merged into its original path itself: for a backup of /,
		// whose node is named "root", that is / and not /root.
		name := filepath.Base(dst)
		if dst == parent {
			name = "."
		}
		into, intoPath := fd, parent
		if m := r.mountAt(fd, name, sub); m >= 0 {
			// dst is a mount point (a home that is its own filesystem):
			// staged on it, not on the filesystem above, where all of it
			// would be restored once for nothing.
			into, intoPath, name = m, dst, "."
		}
		err = r.stageAndMerge([]string{sub}, into, intoPath, name, true)
		if into != fd {
			_ = unix.Close(into)
		}
		_ = unix.Close(fd)
		if errors.As(err, &refused) {
			r.fail("/"+sub, err.Error())
		} else if err != nil {
			return err
		}
	}
	return nil
}

// mountAt returns name in the directory open as dir, open, if it is a
// directory on another mount whose owner is the snapshot's for sub; else
// -1.
func (r *restorer) mountAt(dir int, name, sub string) int {
	if name == "." {
		return -1
	}
	var st unix.Stat_t
	if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return -1
	}
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	var now, d unix.Stat_t
	n, nerr := restore.FindNode(r.ctx, r.g, r.snap, sub)
	if unix.Fstat(fd, &now) != nil || now.Ino != st.Ino || now.Dev != st.Dev || unix.Fstat(dir, &d) != nil ||
		(d.Dev == now.Dev && sameMount(dir, name, dir)) || nerr != nil || n.UID != now.Uid || onFUSE(fd) {
		_ = unix.Close(fd)
		return -1
	}
	return fd
}

// backedUp reports whether the directory at path (as given, on this
// machine, below r.root), open as fd, is the one the snapshot holds at its
// original path (sameDir). openDest goes into such a directory even where
// another user could have moved one there (root's ~/.ssh, a project
// directory in a group-writable one): it is where it was backed up.
func (r *restorer) backedUp(p string, fd int, st *unix.Stat_t) bool {
	if root := cmp.Or(r.root, "/"); root != "/" {
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			return false
		}
		p = "/" + rel
	}
	sub := browse.SnapPath(r.snap, p)
	if browse.OrigPath(r.snap, sub) != p {
		return false // not below a backed-up path
	}
	return r.sameDir(sub, fd, "", st)
}

// sameDir reports whether the directory name in the one open as dir
// (name "": dir itself), of stat st, is the snapshot's directory at sub:
// the same inode and owner, and born before the backup began (an inode
// number is reused at once, so a directory made since can have the old
// one's; where the filesystem has no birth times, never the same).
func (r *restorer) sameDir(sub string, dir int, name string, st *unix.Stat_t) bool {
	n, err := restore.FindNode(r.ctx, r.g, r.snap, sub)
	if err != nil || n.Type != tree.Dir || n.Inode != st.Ino || n.UID != st.Uid {
		return false
	}
	var sx unix.Statx_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if unix.Statx(dir, name, flags, unix.STATX_BTIME|unix.STATX_INO, &sx) != nil || sx.Ino != st.Ino {
		return false
	}
	// Without a birth time (ext4 with 128-byte inodes, ext3, XFS v4) a
	// reused inode number cannot be told from the old: not the same.
	return sx.Mask&unix.STATX_BTIME != 0 && time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)).Before(r.snap.Time)
}

// copyXattrs makes dst's extended attributes (POSIX ACLs among them)
// those of src: each of src's set, each of dst's that src lacks removed.
// After the chmod: an ACL sets the mode's group bits. Both are followed
// (given as /proc/self/fd names of open directories).
func copyXattrs(src, dst string) error {
	have, err := listXattrs(src)
	if err != nil {
		return err
	}
	old, err := listXattrs(dst)
	if err != nil {
		return err
	}
	for name, v := range have {
		if err := unix.Setxattr(dst, name, v, 0); err != nil {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	for name := range old {
		if _, ok := have[name]; !ok {
			if err := unix.Removexattr(dst, name); err != nil && !errors.Is(err, unix.ENODATA) {
				return fmt.Errorf("remove xattr %s: %w", name, err)
			}
		}
	}
	return nil
}

// listXattrs returns the extended attributes of p (followed).
func listXattrs(p string) (map[string][]byte, error) {
	n, err := unix.Listxattr(p, nil)
	if err != nil || n == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = unix.Listxattr(p, buf); err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		sz, err := unix.Getxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		v := make([]byte, sz)
		if sz, err = unix.Getxattr(p, name, v); err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		out[name] = v[:sz]
	}
	return out, nil
}

// stageAndMerge restores subs into a staging directory (in dir, the open
// directory at dirPath, or as root above it: stageParent; on its mount, so
// moving is a rename; one restore, so files hard-linked across subs keep
// their links), then
// merges what it restored by the overwrite policy into to, a name in dir
// ("." for dir itself), when given (one sub's original path), else into
// dir under the restored names. count: add the restore's counts to the
// summary (not for a subtree restored a second time).
func (r *restorer) stageAndMerge(subs []string, dir int, dirPath, to string, count bool) error {
	sp, spPath, err := stageParent(dir, dirPath)
	if err != nil {
		return err
	}
	defer unix.Close(sp)
	stage, name, err := makeStage(sp, spPath)
	if err != nil {
		return err
	}
	defer removeStage(sp, stage, name)
	var sst unix.Stat_t
	if err := unix.Fstat(stage, &sst); err != nil {
		return err
	}
	r.stages = append(r.stages, [2]uint64{sst.Dev, sst.Ino})
	defer func() { r.stages = r.stages[:len(r.stages)-1] }()
	if r.staged != nil {
		r.staged(filepath.Join(spPath, name))
	}
	res, err := restore.RestoreSubsAt(r.ctx, r.g, r.snap, subs, stage, "", restore.Options{})
	if err != nil {
		return err
	}
	dest := func(staged string) string { return filepath.Join(dirPath, cmp.Or(to, staged)) }
	for i := range res.Failed {
		// Named where they were to go, not in the staging directory.
		first, rest, _ := strings.Cut(res.Failed[i].Path, "/")
		res.Failed[i].Path = filepath.Join(dest(first), rest)
	}
	if count {
		r.add(res)
	} else {
		r.res.Failed = append(r.res.Failed, res.Failed...)
	}
	names, err := os.ReadDir(fdPath(stage))
	if err != nil {
		return err
	}
	shown := map[string]string{} // a staged name's path in the snapshot, for failures
	for _, sub := range subs {
		if sub != "" {
			shown[path.Base(sub)] = "/" + sub
		}
	}
	for _, d := range names {
		if err := r.merge(stage, d.Name(), dir, cmp.Or(to, d.Name()), dest(d.Name()), cmp.Or(shown[d.Name()], "/"+d.Name())); err != nil {
			return err
		}
	}
	return nil
}

// merge moves the staged item name in the open directory sdir to dname
// in the open directory ddir (at dpath) by the policy; directories that
// exist on both sides are merged item by item, each opened once (not
// followed) and worked in through its descriptor.
func (r *restorer) merge(sdir int, name string, ddir int, dname, dpath, shown string) error {
	var ss, ds unix.Stat_t
	if err := unix.Fstatat(sdir, name, &ss, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("staged %s: %w", shown, err)
	}
	if err := unix.Fstatat(ddir, dname, &ds, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		if err := renameNoReplace(sdir, name, ddir, dname); errors.Is(err, unix.EEXIST) {
			r.fail(shown, dpath+" appeared while it was restored: kept")
		} else if err != nil {
			r.fail(shown, err.Error())
		} else {
			r.written++
		}
		return nil
	} else if err != nil {
		r.fail(shown, err.Error())
		return nil
	}
	newer := ss.Mtim.Nano() > ds.Mtim.Nano()
	replace := r.policy == overwriteAlways || (r.policy == overwriteIfNewer && newer)
	isDir := func(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
	if isDir(&ds) && isDir(&ss) && os.Geteuid() == 0 {
		if reason := r.untrusted(ddir, dname, &ds, &ss, shown); reason != "" {
			r.fail(shown, dpath+" "+reason+": left alone")
			return nil
		}
	}
	if isDir(&ss) && isDir(&ds) {
		dfd, err := unix.Openat(ddir, dname, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		var now unix.Stat_t
		if err == nil {
			if err = unix.Fstat(dfd, &now); err == nil && (now.Dev != ds.Dev || now.Ino != ds.Ino) {
				err = errors.New("replaced")
			}
		}
		if err != nil {
			if dfd >= 0 {
				_ = unix.Close(dfd)
			}
			r.fail(shown, fmt.Sprintf("%s changed while it was restored (%v): not merged", dpath, err))
			return nil
		}
		defer unix.Close(dfd)
		if ss.Dev != ds.Dev || !sameMount(sdir, name, dfd) {
			// dst is on another filesystem (a mount point): nothing
			// moves there by rename, so this subtree is restored again
			// through a staging directory on it and merged from there.
			// (Counted once: the first restore counted it.)
			err := r.stageAndMerge([]string{strings.TrimPrefix(shown, "/")}, dfd, dpath, ".", false)
			var refused *refusedError
			if errors.As(err, &refused) {
				r.fail(shown, err.Error())
				return nil
			}
			return err
		}
		if r.merging != nil {
			r.merging(dpath)
		}
		sfd, err := unix.Openat(sdir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("staged %s: %w", shown, err)
		}
		sf := os.NewFile(uintptr(sfd), shown)
		defer sf.Close()
		entries, err := sf.ReadDir(-1)
		if err != nil {
			return fmt.Errorf("staged %s: %w", shown, err)
		}
		for _, d := range entries {
			if err := r.merge(sfd, d.Name(), dfd, d.Name(), filepath.Join(dpath, d.Name()), path.Join(shown, d.Name())); err != nil {
				return err
			}
		}
		if replace {
			// The directory's own metadata, after its children moved
			// in; by its descriptor's name (followed to it, whatever
			// its path is now).
			d := fdPath(dfd)
			if os.Geteuid() == 0 {
				_ = unix.Chown(d, int(ss.Uid), int(ss.Gid))
			}
			_ = unix.Chmod(d, ss.Mode&07777)
			if err := copyXattrs(fdPath(sfd), d); err != nil {
				r.fail(shown, err.Error())
			}
			ts := []unix.Timespec{ss.Atim, ss.Mtim}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, d, ts, 0)
		}
		return nil
	}
	if !replace {
		r.kept++
		return nil
	}
	if isDir(&ss) {
		if err := unix.Unlinkat(ddir, dname, 0); err != nil { // a file where the directory was
			r.fail(shown, "cannot replace the existing item: "+err.Error())
			return nil
		}
	} else if isDir(&ds) && os.Geteuid() == 0 {
		// As root a directory is not removed: what is in it may be
		// anyone's (moved there by the user of this directory). It is
		// renamed aside, within its directory, and reported.
		var rnd [4]byte
		_, _ = crand.Read(rnd[:])
		aside := fmt.Sprintf("%s.keep-replaced-%x", dname, rnd)
		if err := renameNoReplace(ddir, dname, ddir, aside); err != nil {
			r.fail(shown, "cannot move the existing directory aside: "+err.Error())
			return nil
		}
		r.aside = append(r.aside, filepath.Join(filepath.Dir(dpath), aside))
	} else if isDir(&ds) {
		if err := removeTree(ddir, dname, false); err != nil {
			r.fail(shown, "cannot replace the existing directory: "+err.Error())
			return nil
		}
	}
	if err := unix.Renameat(sdir, name, ddir, dname); err != nil {
		r.fail(shown, err.Error())
		return nil
	}
	r.replaced++
	return nil
}

// untrusted says why, as root, the existing directory ds (in the directory
// open as ddir) is not merged into with the staged directory ss (at shown
// in the snapshot), or "". Merging puts the snapshot's items in it, whose
// protection its owner and mode then are: it must have the snapshot's
// owner (a directory the user made in place of root's 0700 one would hand
// them root's files). And if a user other than its owner could have moved
// it there (movable), it must be the very directory that was backed up
// (its inode): not root's ~/.ssh renamed onto the name of root's ~/logs.
func (r *restorer) untrusted(ddir int, dname string, ds, ss *unix.Stat_t, shown string) string {
	for _, st := range r.stages {
		if st == [2]uint64{ds.Dev, ds.Ino} {
			return "is this restore's staging directory, moved there"
		}
	}
	if ds.Uid != ss.Uid {
		return fmt.Sprintf("exists owned by uid %d, not by the snapshot's uid %d (its items would be theirs to read)", ds.Uid, ss.Uid)
	}
	var d unix.Stat_t
	if err := unix.Fstat(ddir, &d); err != nil {
		return err.Error()
	}
	if !movable(ds, &d) {
		return ""
	}
	if !r.sameDir(strings.TrimPrefix(shown, "/"), ddir, dname, ds) {
		return fmt.Sprintf("is in a directory others can change (uid %d, mode %04o) and is not the directory backed up (inode, owner, birth): it may have been moved there", d.Uid, d.Mode&0o7777)
	}
	return ""
}

// sameMount reports whether name in the directory open as dir is on the
// mount of the directory open as fd (a bind mount of the same filesystem
// has the same st_dev, and renames do not cross it either). Without
// STATX_MNT_ID (Linux before 5.8) it says yes.
func sameMount(dir int, name string, fd int) bool {
	var a, b unix.Statx_t
	if unix.Statx(dir, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &a) != nil ||
		unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &b) != nil || a.Mask&b.Mask&unix.STATX_MNT_ID == 0 {
		return true
	}
	return a.Mnt_id == b.Mnt_id
}

// renameNoReplace moves old (in odir) to new (in ndir) unless new exists
// (EEXIST); where the filesystem lacks RENAME_NOREPLACE, after a check.
func renameNoReplace(odir int, old string, ndir int, new string) error {
	err := unix.Renameat2(odir, old, ndir, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		var st unix.Stat_t
		if unix.Fstatat(ndir, new, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return unix.EEXIST
		}
		err = unix.Renameat(odir, old, ndir, new)
	}
	return err
}

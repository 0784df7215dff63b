package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

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
		"Items are restored into a staging directory beside their destination first and then\n"+
		"moved into place, so a file is replaced whole or not at all. As root, --in-place\n"+
		"does not write through a symlink another user owns on the way to a destination.\n\n"+
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
		subs = append(subs, snapPath(snap, p))
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
		res, err := restore.WriteImage(ctx, rd, snap, subs[0], *to, restore.Options{})
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

	res                     restore.Result
	written, replaced, kept int
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

// outOfPlace restores subs (everything: nil) into target through one
// staging directory inside it, so hard links between them are kept.
func (r *restorer) outOfPlace(target string, subs []string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if len(subs) == 0 {
		subs = []string{""}
	}
	return r.stageAndMerge(subs, target, "", true)
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
		orig := origPath(r.snap, sub)
		if orig == "" || sub == "" {
			r.fail("/"+sub, "no original location (a stream, or not under a backed-up path): restore it with --target or write it with cat")
			continue
		}
		dst := filepath.Join(cmp.Or(r.root, "/"), orig)
		parent := filepath.Dir(dst)
		if err := throughOwnLinks(parent); err != nil {
			r.fail("/"+sub, err.Error())
			continue
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		// Merged into its original path itself: for a backup of /,
		// whose node is named "root", that is / and not /root.
		if err := r.stageAndMerge([]string{sub}, parent, dst, true); err != nil {
			return err
		}
	}
	return nil
}

// throughOwnLinks refuses a path that a restore running as root would
// follow through a symlink another user owns: that user could point the
// restore anywhere (a directory of theirs replaced by a link to /etc).
// Each existing prefix is lstat'ed (a link in the middle is followed by
// the kernel, so each link is seen as a last component once); root's own
// links (/home to /data/home) are followed.
func throughOwnLinks(p string) error {
	if os.Geteuid() != 0 {
		return nil // the kernel's permission checks apply to the user
	}
	prefix := "/"
	for _, el := range strings.Split(strings.Trim(filepath.Clean(p), "/"), "/") {
		if el == "" {
			continue
		}
		prefix = filepath.Join(prefix, el)
		var st unix.Stat_t
		if err := unix.Lstat(prefix, &st); err != nil {
			return nil // missing from here on: created by root
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && st.Uid != 0 {
			return fmt.Errorf("%s is a symlink owned by uid %d: a restore as root does not write through another user's link (it could point anywhere); remove the link, or restore with --target", prefix, st.Uid)
		}
	}
	return nil
}

// copyXattrs makes dst's extended attributes (POSIX ACLs among them)
// those of src: each of src's set, each of dst's that src lacks removed.
// After the chmod: an ACL sets the mode's group bits.
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
		if err := unix.Lsetxattr(dst, name, v, 0); err != nil {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	for name := range old {
		if _, ok := have[name]; !ok {
			if err := unix.Lremovexattr(dst, name); err != nil && !errors.Is(err, unix.ENODATA) {
				return fmt.Errorf("remove xattr %s: %w", name, err)
			}
		}
	}
	return nil
}

// listXattrs returns the extended attributes of p (not followed).
func listXattrs(p string) (map[string][]byte, error) {
	n, err := unix.Llistxattr(p, nil)
	if err != nil || n == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = unix.Llistxattr(p, buf); err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		sz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, p, err)
		}
		v := make([]byte, sz)
		if sz, err = unix.Lgetxattr(p, name, v); err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, p, err)
		}
		out[name] = v[:sz]
	}
	return out, nil
}

// stageAndMerge restores subs into a staging directory in dir (same
// filesystem, so moving is a rename; one restore, so files hard-linked
// across subs keep their links), then merges what it restored by the
// overwrite policy into to when given (one sub's original path), else into
// dir under the restored names. count: add the restore's counts to the
// summary (not for a subtree restored a second time).
func (r *restorer) stageAndMerge(subs []string, dir, to string, count bool) error {
	stage, err := os.MkdirTemp(dir, stagingPrefix)
	if err != nil {
		return fmt.Errorf("staging directory in %s: %w", dir, err)
	}
	defer os.RemoveAll(stage)
	res, err := restore.RestoreSubs(r.ctx, r.g, r.snap, subs, stage, restore.Options{})
	if err != nil {
		return err
	}
	if count {
		r.add(res)
	} else {
		r.res.Failed = append(r.res.Failed, res.Failed...)
	}
	names, err := os.ReadDir(stage)
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
		dst := cmp.Or(to, filepath.Join(dir, d.Name()))
		if err := r.merge(filepath.Join(stage, d.Name()), dst, cmp.Or(shown[d.Name()], "/"+d.Name())); err != nil {
			return err
		}
	}
	return nil
}

// merge moves the staged item src to dst by the policy; directories that
// exist on both sides are merged item by item.
func (r *restorer) merge(src, dst, shown string) error {
	var ss, ds unix.Stat_t
	if err := unix.Lstat(src, &ss); err != nil {
		return err
	}
	if err := unix.Lstat(dst, &ds); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(src, dst); err != nil {
			r.fail(shown, err.Error())
			return nil
		}
		r.written++
		return nil
	} else if err != nil {
		r.fail(shown, err.Error())
		return nil
	}
	newer := ss.Mtim.Nano() > ds.Mtim.Nano()
	replace := r.policy == overwriteAlways || (r.policy == overwriteIfNewer && newer)
	isDir := func(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
	if isDir(&ss) && isDir(&ds) && ss.Dev != ds.Dev {
		// dst is on another filesystem (a mount point): nothing moves
		// there by rename, so this subtree is restored again through a
		// staging directory on it and merged from there.
		// (Counted once: the first restore counted it.)
		return r.stageAndMerge([]string{strings.TrimPrefix(shown, "/")}, dst, dst, false)
	}
	if isDir(&ss) && isDir(&ds) {
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, d := range entries {
			if err := r.merge(filepath.Join(src, d.Name()), filepath.Join(dst, d.Name()), path.Join(shown, d.Name())); err != nil {
				return err
			}
		}
		if replace {
			// The directory's own metadata, after its children moved in.
			if os.Geteuid() == 0 {
				_ = unix.Lchown(dst, int(ss.Uid), int(ss.Gid))
			}
			_ = unix.Chmod(dst, ss.Mode&07777)
			if err := copyXattrs(src, dst); err != nil {
				r.fail(shown, err.Error())
			}
			ts := []unix.Timespec{ss.Atim, ss.Mtim}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	}
	if !replace {
		r.kept++
		return nil
	}
	if isDir(&ss) {
		if err := os.Remove(dst); err != nil { // a file where the directory was
			r.fail(shown, "cannot replace the existing item: "+err.Error())
			return nil
		}
	} else if isDir(&ds) {
		if err := os.RemoveAll(dst); err != nil {
			r.fail(shown, "cannot replace the existing directory: "+err.Error())
			return nil
		}
	}
	if err := os.Rename(src, dst); err != nil {
		r.fail(shown, err.Error())
		return nil
	}
	r.replaced++
	return nil
}

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A restore as root writes into directories other users own (their home
// directories, a web root), and those users can rename anything in them
// while it runs, root's entries included. So, as root:
//
//   - A destination's path is resolved once, into an open directory, and
//     from there on the restore works only relative to open directories
//     (the *at calls): a user who swaps a directory for a symlink
//     meanwhile changes nothing the restore writes. Where Linux has no *at
//     form of a call (the xattr calls) the directory is named by its
//     /proc/self/fd link, which leads to the open directory itself.
//   - The staging directory is made where only root can rename entries
//     (stageParent): the nearest such directory above the destination on
//     its filesystem (/home for /home/alice/www), never in the user's.
//   - An entry that a user other than its owner could have moved where it
//     is (movable) is not trusted: the walk to a destination does not go
//     through it (a root-owned directory or symlink in a user's directory
//     is refused, refusedError), and a merge does not go into, chown or
//     remove an existing directory there unless the snapshot's item has
//     its owner.

// fdPath names the directory open as fd.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// A refusedError is a destination a restore as root does not reach:
// through a symlink another user owns, or through an entry another user
// could have moved there.
type refusedError struct {
	path   string
	reason string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s %s; restore elsewhere with --target, or fix the path and retry", e.path, e.reason)
}

// movable reports whether a user other than e's owner (and root) could
// have moved e into d, which holds it: d's owner (other than root and e's)
// can write d, or d is writable by group or others and not sticky (in a
// sticky directory only an entry's owner and the directory's renames it).
func movable(e, d *unix.Stat_t) bool {
	return (d.Uid != 0 && d.Uid != e.Uid && d.Mode&0o200 != 0) ||
		(d.Mode&0o022 != 0 && d.Mode&unix.S_ISVTX == 0)
}

// followRefused says why a restore as root does not follow the symlink
// at path (of stat link, in the directory of stat dir), or nil: it is
// another user's (it could point anywhere), or root's in a directory
// others can change (it may have been moved there).
func followRefused(path string, link, dir *unix.Stat_t) error {
	switch {
	case link.Uid != 0:
		return &refusedError{path: path, reason: fmt.Sprintf("is a symlink owned by uid %d: a restore as root does not write through another user's link (it could point anywhere)", link.Uid)}
	case !rootOnly(dir):
		return &refusedError{path: path, reason: fmt.Sprintf("is a symlink in a directory (uid %d, mode %04o) others can change: it may have been moved there, and a restore as root does not follow it", dir.Uid, dir.Mode&0o7777)}
	}
	return nil
}

// onFUSE reports whether fd is on a FUSE filesystem.
func onFUSE(fd int) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.FUSE_SUPER_MAGIC
}

const fuseReason = "is on a FUSE filesystem, whose owners and modes the program serving it makes up: a restore as root does not go there"

// rootOnly reports whether in d no one but root can rename root's
// entries: root owns it and it is not writable by group or others, or is
// sticky.
func rootOnly(d *unix.Stat_t) bool {
	return d.Uid == 0 && (d.Mode&0o022 == 0 || d.Mode&unix.S_ISVTX != 0)
}

// openDest opens the directory p (absolute), creating what is missing,
// and returns an O_PATH descriptor of it. Each element is opened relative
// to the one before without following it; a symlink is followed by
// reading it and going on from its target, as the kernel would. As root
// (see above) only a symlink root owns in a directory only root can change
// is followed (/home to /data/home), and an entry another user could have
// moved there is refused, unless trust (nil: none) vouches for it by the
// path as given (not resolved), its descriptor and stat (it is the
// directory a snapshot was taken of); so is a FUSE filesystem, whose
// owners and modes are its user's to make up; a missing directory is made
// owned by the owner of the directory it is made in.
func openDest(p string, trust func(path string, fd int, st *unix.Stat_t) bool) (int, error) {
	asRoot := os.Geteuid() == 0
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		_ = unix.Close(fd)
		return -1, err
	}
	var cur unix.Stat_t // fd's
	if err := unix.Fstat(fd, &cur); err != nil {
		return fail(err)
	}
	rest := split(p)
	given := len(rest) // the last given elements of rest are p's own
	walked := "/"      // for messages: the path as resolved so far
	asked := "/"       // p's elements taken so far: the path as given
	for links := 0; len(rest) > 0; {
		el := rest[0]
		own := len(rest) == given // one of p's elements, not a link's
		rest = rest[1:]
		if own {
			given--
			asked = filepath.Join(asked, el)
		}
		here := filepath.Join(walked, el)
		next, err := unix.Openat(fd, el, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if asRoot && movable(&unix.Stat_t{Uid: cur.Uid}, &cur) {
				// What it would make could be moved by others:
				// refused below anyway, so not made.
				return fail(&refusedError{path: here, reason: fmt.Sprintf("is missing in a directory (uid %d, mode %04o) others can change: a restore as root does not make directories there", cur.Uid, cur.Mode&0o7777)})
			}
			if err = mkdirAs(fd, el, &cur, asRoot); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, el, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if err != nil {
			return fail(&fs.PathError{Op: "open", Path: here, Err: err})
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			_ = unix.Close(next)
			return fail(&fs.PathError{Op: "stat", Path: here, Err: err})
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if asRoot && onFUSE(next) {
				_ = unix.Close(next)
				return fail(&refusedError{path: here, reason: fuseReason})
			}
			if asRoot && movable(&st, &cur) && (trust == nil || !own || !trust(asked, next, &st)) {
				_ = unix.Close(next)
				return fail(&refusedError{path: here, reason: fmt.Sprintf("is owned by uid %d in a directory (uid %d, mode %04o) others can change: it may have been moved there, and a restore as root does not go into it", st.Uid, cur.Uid, cur.Mode&0o7777)})
			}
			_ = unix.Close(fd)
			fd, walked, cur = next, here, st
		case unix.S_IFLNK:
			target, err := readlinkFd(next)
			_ = unix.Close(next)
			if err == nil && asRoot {
				err = followRefused(here, &st, &cur)
			}
			switch {
			case errors.As(err, new(*refusedError)):
				return fail(err)
			case err != nil:
				return fail(&fs.PathError{Op: "readlink", Path: here, Err: err})
			case links == 40:
				return fail(&fs.PathError{Op: "open", Path: p, Err: unix.ELOOP})
			}
			links++
			if filepath.IsAbs(target) {
				root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fail(err)
				}
				_ = unix.Close(fd)
				fd, walked = root, "/"
				if err := unix.Fstat(fd, &cur); err != nil {
					return fail(err)
				}
			}
			rest = append(split(target), rest...)
		default:
			_ = unix.Close(next)
			return fail(&fs.PathError{Op: "open", Path: here, Err: unix.ENOTDIR})
		}
	}
	return fd, nil
}

// stageParent returns the directory to make a restore's staging directory
// in, for a restore into the directory open as dir (at dirPath): as root,
// the nearest directory at or above it on its mount in which only root can
// rename root's entries (rootOnly), so no user can move the staging
// directory or put another in its place; not as root, dir itself. The
// descriptor is the caller's to close.
func stageParent(dir int, dirPath string) (fd int, path string, err error) {
	fd, err = unix.Openat(dir, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil || os.Geteuid() != 0 {
		return fd, dirPath, err
	}
	if onFUSE(fd) {
		_ = unix.Close(fd)
		return -1, "", &refusedError{path: dirPath, reason: fuseReason}
	}
	path = dirPath
	for {
		var st unix.Stat_t
		var sx unix.Statx_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = unix.Close(fd)
			return -1, "", err
		}
		if rootOnly(&st) {
			return fd, path, nil
		}
		up, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			_ = unix.Close(fd)
			return -1, "", err
		}
		var ust unix.Stat_t
		var ux unix.Statx_t
		same := unix.Fstat(up, &ust) == nil && ust.Dev == st.Dev && ust.Ino != st.Ino
		if same && unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sx) == nil &&
			unix.Statx(up, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &ux) == nil && sx.Mask&ux.Mask&unix.STATX_MNT_ID != 0 {
			same = sx.Mnt_id == ux.Mnt_id // a bind mount of the same filesystem: renames do not cross it
		}
		if !same {
			// No such directory on this mount (a home that is its own
			// filesystem, a bind mount): stage in the destination
			// itself. Its user can rename the staging directory within
			// it (not into another: that needs write permission on the
			// directory moved), and nothing else: it is root's, 0700,
			// checked new by makeStage, worked in through descriptors;
			// a merge does not take it for a destination (untrusted).
			// Not where group or others could do it too.
			_ = unix.Close(fd)
			_ = unix.Close(up)
			var d unix.Stat_t
			if err := unix.Fstat(dir, &d); err != nil {
				return -1, "", err
			}
			if d.Mode&0o022 != 0 && d.Mode&unix.S_ISVTX == 0 {
				return -1, "", &refusedError{path: dirPath, reason: "is on a filesystem with no directory above it that only root can change, and group or others can change it: no place to stage the restore where users cannot move it"}
			}
			fd, err = unix.Openat(dir, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			return fd, dirPath, err
		}
		_ = unix.Close(fd)
		fd, path = up, filepath.Dir(path)
	}
}

// mkdirAs makes the directory name (0755) in the directory open as dir,
// whose stat is d: as root in a user's directory, as that user would (by
// the user's file system ids, on a thread of its own that ends with it),
// so it is the user's from its first moment and made only if the user
// may; otherwise as this process.
func mkdirAs(dir int, name string, d *unix.Stat_t, asRoot bool) error {
	if !asRoot || d.Uid == 0 {
		return unix.Mkdirat(dir, name, 0o755)
	}
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, with its changed ids, exits with
		// this goroutine.
		runtime.LockOSThread()
		unix.Setfsgid(int(d.Gid))
		unix.Setfsuid(int(d.Uid))
		done <- unix.Mkdirat(dir, name, 0o755)
	}()
	return <-done
}

// split is p's elements, without empty ones and ".".
func split(p string) []string {
	var out []string
	for _, el := range strings.Split(p, "/") {
		if el != "" && el != "." {
			out = append(out, el)
		}
	}
	return out
}

// readlinkFd reads the symlink open (O_PATH) as fd.
func readlinkFd(fd int) (string, error) { return readlinkAt(fd, "") }

// readlinkAt reads the symlink name in the directory open as dir ("": dir
// is the symlink, open O_PATH).
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// makeStage makes a staging directory in the directory open as dir (at
// path dirPath, for messages) and opens it: its name, and a descriptor
// that is this process's own new directory, checked after the open (the
// name may have been swapped between the mkdir and the open).
func makeStage(dir int, dirPath string) (fd int, name string, err error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return -1, "", err
	}
	name = stagingPrefix + hex.EncodeToString(rnd[:])
	before := time.Now().Add(-time.Second) // a filesystem's clock may be coarse
	if err := unix.Mkdirat(dir, name, 0o700); err != nil {
		return -1, "", fmt.Errorf("staging directory in %s: %w", dirPath, err)
	}
	fd, err = unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("staging directory in %s: %w", dirPath, err)
	}
	// Exchanged between the mkdir and the open for another directory
	// of this process's owner (a user can rename root's directories in
	// their own)? Refused unless it is as closed to others as a new one
	// (no group or other bits, empty), and not born before the mkdir.
	var st, proc unix.Stat_t
	var sx unix.Statx_t
	born := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &sx)
	if err := unix.Fstat(fd, &st); err != nil || st.Uid != uint32(os.Geteuid()) || st.Mode&0o077 != 0 || st.Nlink > 2 || len(listFd(fd)) != 0 ||
		(born == nil && sx.Mask&unix.STATX_BTIME != 0 && time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)).Before(before)) {
		_ = unix.Close(fd)
		return -1, "", fmt.Errorf("staging directory %s was replaced while it was made (by another user?): restore refused", filepath.Join(dirPath, name))
	}
	if err := unix.Stat(fdPath(fd), &proc); err != nil || proc.Dev != st.Dev || proc.Ino != st.Ino {
		_ = unix.Close(fd)
		_ = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
		return -1, "", errors.New("restore needs /proc mounted (it names open directories as /proc/self/fd/N): mount -t proc proc /proc")
	}
	return fd, name, nil
}

// removeStage removes the staging directory open as fd, named name in
// dir: its contents through fd (made writable first: a restore not as root
// keeps a read-only directory's mode); the name only if it still is that
// directory.
func removeStage(dir, fd int, name string) {
	defer unix.Close(fd)
	for _, n := range listFd(fd) {
		_ = removeTree(fd, n, true)
	}
	var st, now unix.Stat_t
	if unix.Fstat(fd, &st) == nil && unix.Fstatat(dir, name, &now, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Dev == now.Dev && st.Ino == now.Ino {
		_ = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
	}
}

// removeTree removes name in the directory open as dir and, if it is a
// directory, everything in it, through descriptors (never following a
// symlink); writable: make each directory writable by its owner first.
func removeTree(dir int, name string, writable bool) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	fd, oerr := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return err // not a directory: the unlink's error
	}
	defer unix.Close(fd)
	var st, in unix.Stat_t
	if unix.Fstat(dir, &in) != nil || unix.Fstat(fd, &st) != nil || st.Dev != in.Dev {
		return fmt.Errorf("%s: %w (a mount point: not removed)", name, unix.EBUSY)
	}
	if writable {
		_ = unix.Fchmod(fd, 0o700)
	}
	for _, n := range listFd(fd) {
		if err := removeTree(fd, n, writable); err != nil {
			return err
		}
	}
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}

// listFd lists the names in the directory open (readable) as fd.
func listFd(fd int) []string {
	d, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(d), "")
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}

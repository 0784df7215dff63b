package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A restore as root writes into directories other users own (their home
// directories, a web root), and those users can rename and replace
// anything in them while it runs. So a restore resolves a destination's
// path once, into an open directory, and from there on works only
// relative to open directories (the *at calls): a user who swaps a
// directory for a symlink meanwhile changes nothing the restore writes.
// Where Linux has no *at form of a call (chmod that does not follow, the
// xattr calls, RemoveAll's parent) the directory is named by its
// /proc/self/fd link, which leads to the open directory itself.

// fdPath names the directory open as fd.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// at names the item name in the directory open as fd.
func at(fd int, name string) string { return fdPath(fd) + "/" + name }

// A linkRefusedError is a destination that a restore as root would
// reach through a symlink another user owns.
type linkRefusedError struct {
	path string
	uid  uint32
}

func (e *linkRefusedError) Error() string {
	return fmt.Sprintf("%s is a symlink owned by uid %d: a restore as root does not write through another user's link (it could point anywhere); remove the link, or restore elsewhere with --target", e.path, e.uid)
}

// openDest opens the directory p (absolute), creating what is missing
// (mode 0755), and returns an O_PATH descriptor of it. Each element is
// opened relative to the one before without following it; a symlink is
// followed by reading it and going on from its target, as the kernel
// would, but as root only a symlink root owns (/home to /data/home): one
// another user owns is refused (linkRefusedError), since that user could
// point it anywhere.
func openDest(p string) (int, error) {
	asRoot := os.Geteuid() == 0
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		_ = unix.Close(fd)
		return -1, err
	}
	rest := split(p)
	walked := "/" // for messages: the path as resolved so far
	for links := 0; len(rest) > 0; {
		el := rest[0]
		rest = rest[1:]
		here := filepath.Join(walked, el)
		next, err := unix.Openat(fd, el, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, el, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
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
			_ = unix.Close(fd)
			fd, walked = next, here
		case unix.S_IFLNK:
			target, err := readlinkFd(next)
			_ = unix.Close(next)
			switch {
			case err != nil:
				return fail(&fs.PathError{Op: "readlink", Path: here, Err: err})
			case asRoot && st.Uid != 0:
				return fail(&linkRefusedError{path: here, uid: st.Uid})
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
			}
			rest = append(split(target), rest...)
		default:
			_ = unix.Close(next)
			return fail(&fs.PathError{Op: "open", Path: here, Err: unix.ENOTDIR})
		}
	}
	return fd, nil
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
func readlinkFd(fd int) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
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
	if err := unix.Mkdirat(dir, name, 0o700); err != nil {
		return -1, "", fmt.Errorf("staging directory in %s: %w", dirPath, err)
	}
	fd, err = unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("staging directory in %s: %w", dirPath, err)
	}
	var st, proc unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Uid != uint32(os.Geteuid()) {
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
// dir: its contents through fd; the name only if it still is that
// directory. Directories without write permission (a restore not as root
// keeps a read-only directory's mode) are made writable first.
func removeStage(dir, fd int, name string) {
	defer unix.Close(fd)
	ents, _ := os.ReadDir(fdPath(fd))
	for _, e := range ents {
		p := at(fd, e.Name())
		if os.RemoveAll(p) != nil {
			_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					_ = os.Chmod(q, 0o700)
				}
				return nil
			})
			_ = os.RemoveAll(p)
		}
	}
	var st, now unix.Stat_t
	if unix.Fstat(fd, &st) == nil && unix.Fstatat(dir, name, &now, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Dev == now.Dev && st.Ino == now.Ino {
		_ = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
	}
}

package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// FS is the repository's filesystem seam: the directory a repository lives
// in, with slash-separated names relative to it ("config", "data/ab/…").
// Every method reports the operation's own error (wrapped or as is, so
// errors.Is(err, fs.ErrNotExist) and fs.ErrExist work) and none retries.
// Durability is explicit: what a crash may undo is everything not made
// durable by File.Sync (a file's content) or SyncDir (a directory's
// entries: creations, renames into it and removals). DirFS is the real
// one; engine/repo/memfs is an in-memory one that fails on cue and
// forgets what was not synced. The seam is wider than the usual four
// methods because each method is a distinct step of the write ordering the
// tests must be able to fail.
//
// Beyond the method comments, every implementation must also (the
// repository relies on each; engine/repo/storetest checks them all):
// Remove and SyncDir of a missing name fail with fs.ErrNotExist; Create
// over a directory and Mkdir over a file fail with fs.ErrExist; of
// concurrent Creates of one name exactly one succeeds; Sync works on a
// handle from Open (Open syncs packs that way); a short ReadAt returns
// io.EOF; and a handle opened before a rename still reads the file.
type FS interface {
	// Create creates name for writing; it fails with fs.ErrExist if name
	// exists.
	Create(name string) (File, error)
	// Open opens name for reading; fs.ErrNotExist if it does not exist.
	Open(name string) (File, error)
	// Rename atomically replaces newname by oldname.
	Rename(oldname, newname string) error
	// Remove removes the file name.
	Remove(name string) error
	// Mkdir creates the directory name; fs.ErrExist if it exists.
	Mkdir(name string) error
	// ReadDir returns the names in directory name, sorted;
	// fs.ErrNotExist if it does not exist.
	ReadDir(name string) ([]string, error)
	// SyncDir makes the entries of directory name durable.
	SyncDir(name string) error
	// Lock takes an exclusive lock named name, or fails with ErrLocked
	// while another holder has it. Closing the returned Closer, or the
	// holder's process ending, releases it.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS: written sequentially after Create, read
// at offsets after Open.
type File interface {
	io.Writer
	io.ReaderAt
	// Sync makes the file's content durable.
	Sync() error
	// Size returns the file's size in bytes.
	Size() (int64, error)
	Close() error
}

// DirFS returns the FS of the directory root on the local filesystem.
func DirFS(root string) FS { return dirFS(root) }

type dirFS string

func (d dirFS) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

func (d dirFS) Create(name string) (File, error) {
	f, err := os.OpenFile(d.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (d dirFS) Open(name string) (File, error) {
	f, err := os.Open(d.path(name))
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (d dirFS) Rename(oldname, newname string) error {
	return os.Rename(d.path(oldname), d.path(newname))
}

func (d dirFS) Remove(name string) error { return os.Remove(d.path(name)) }

func (d dirFS) Mkdir(name string) error { return os.Mkdir(d.path(name), 0o700) }

func (d dirFS) ReadDir(name string) ([]string, error) {
	des, err := os.ReadDir(d.path(name))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(des))
	for i, de := range des {
		names[i] = de.Name()
	}
	return names, nil
}

func (d dirFS) SyncDir(name string) error {
	f, err := os.Open(d.path(name))
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", name, err)
	}
	return nil
}

// Lock takes a flock(2) on the file name, so the kernel releases it when
// the process dies, and writes the holder's PID into it for the message
// the next would-be holder sees.
func (d dirFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(d.path(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 256))
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: held by %s", ErrLocked, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "pid %d\n", os.Getpid()) // informational only
	}
	return f, nil // closing the file releases the flock
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// readFile reads all of name, refusing files larger than limit before it
// allocates.
func readFile(fsys FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", name, size, limit)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// readDir is ReadDir with a missing directory read as empty.
func readDir(fsys FS, name string) ([]string, error) {
	names, err := fsys.ReadDir(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", name, err)
	}
	slices.Sort(names)
	return names, nil
}

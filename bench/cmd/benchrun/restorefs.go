package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A restore writes tens of thousands of new inodes and gigabytes of new
// blocks, and what that costs the kernel depends on the history of the
// filesystem it lands on as much as on the tool. This machine's root is
// an ext4 without a journal, and there ext4 passes over every inode freed
// in the last 60 seconds (300 if its table block is still dirty) when it
// allocates one (fs/ext4/ialloc.c, find_inode_bit → recently_deleted): the
// same keepbench restore of the fs corpus took 7.3, 12.7 and then 17.3 s
// one after another, each into a fresh directory after deleting the last,
// with recently_deleted the hottest kernel symbol. So by default
// (-restore-fs ext4) every tool restores into a filesystem of its own,
// made just before the step: a journaled ext4 (as a server's would be),
// inode tables and journal initialised at mkfs (no ext4lazyinit thread
// writing them during the step), on a sparse image file in the work
// directory, loop-mounted at the restore target. -restore-fs "" restores
// into the work directory's filesystem as before.

// restoreFS is the -restore-fs flag: "ext4" or "".
var restoreFS string

// mountedTargets are the filesystems made for restores, unmounted by
// unmountTargets.
var mountedTargets []string

// prepareTarget makes dir the mount point of a fresh filesystem with room
// for a restore of size bytes (restoreFS "ext4"), or a plain directory.
func prepareTarget(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if restoreFS == "" {
		return nil
	}
	if restoreFS != "ext4" {
		return fmt.Errorf("-restore-fs %q: use ext4 or \"\"", restoreFS)
	}
	img := dir + ".img"
	_ = os.Remove(img)
	// Twice the data plus 1 GiB: metadata, the journal, and kopia's and
	// restic's temporary files; sparse, so only what is written is used.
	if err := sh("", "truncate", "-s", fmt.Sprint(2*size+1<<30), img); err != nil {
		return err
	}
	if err := sh("", "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", "-m", "0", img); err != nil {
		return fmt.Errorf("%w (mkfs.ext4 is in e2fsprogs: bench/deps.sh; or run with -restore-fs \"\")", err)
	}
	if err := sh("", "mount", "-o", "loop", img, dir); err != nil {
		return fmt.Errorf("%w (loop mounts need root; or run with -restore-fs \"\")", err)
	}
	mountedTargets = append(mountedTargets, dir)
	// The new filesystem's root has lost+found, which no restore has.
	if err := os.Remove(filepath.Join(dir, "lost+found")); err != nil {
		return err
	}
	return nil
}

// unmountTargets unmounts every filesystem prepareTarget made and removes
// its image, leaving the mount point.
func unmountTargets() error {
	var errs []string
	for _, dir := range mountedTargets {
		if err := unix.Unmount(dir, 0); err != nil {
			errs = append(errs, fmt.Sprintf("umount %s: %v", dir, err))
			continue
		}
		if err := os.Remove(dir + ".img"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	mountedTargets = nil
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// clearTarget removes a restore target left by an earlier run, unmounting
// it first if a run that failed left its filesystem mounted there.
func clearTarget(dir string) error {
	if err := unix.Unmount(dir, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("umount %s (left by an earlier run): %w", dir, err)
	}
	if err := os.Remove(dir + ".img"); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.RemoveAll(dir)
}

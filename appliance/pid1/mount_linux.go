package pid1

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem the early boot mounts.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Mode                   os.FileMode // of Target, created if missing
}

// EarlyMounts are the kernel filesystems every later step needs.
func EarlyMounts() []Mount {
	const nodev = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []Mount{
		{"proc", "/proc", "proc", nodev, "", 0o555},
		{"sysfs", "/sys", "sysfs", nodev, "", 0o555},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", 0o755},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666", 0o755},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777},
	}
}

// MountAll mounts each of ms in order. A target that is already a mount
// point (EBUSY) counts as done. It carries on past failures and returns
// them all, so one missing filesystem does not hide the others.
func MountAll(ms []Mount) error {
	var errs []error
	for _, m := range ms {
		if err := os.MkdirAll(m.Target, m.Mode); err != nil {
			errs = append(errs, fmt.Errorf("mount %s: %w", m.Target, err))
			continue
		}
		err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err))
		}
	}
	return errors.Join(errs...)
}

package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelFS are filesystems with nothing to flush; they stay mounted to
// the end so logging and power-off keep working.
var kernelFS = map[string]bool{"rootfs": true, "proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "tmpfs": true, "ramfs": true}

// UnmountTargets parses /proc/self/mounts and returns the mount points
// that hold data, in the order to unmount them (the reverse of mounting,
// so nested mounts go first).
func UnmountTargets(mounts io.Reader) ([]string, error) {
	var targets []string
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || kernelFS[f[2]] {
			continue
		}
		targets = append(targets, unescapeMount(f[1]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	for i, j := 0, len(targets)-1; i < j; i, j = i+1, j-1 {
		targets[i], targets[j] = targets[j], targets[i]
	}
	return targets, nil
}

// unescapeMount undoes the octal escapes (\040 for space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// UnmountData unmounts every data filesystem; one that stays busy is
// remounted read-only so nothing is lost at power-off.
func UnmountData() error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("unmount: %w", err)
	}
	targets, err := UnmountTargets(f)
	f.Close()
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range targets {
		if err := unix.Unmount(t, 0); err == nil {
			continue
		}
		if err := unix.Mount("", t, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: busy, and remount read-only failed: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

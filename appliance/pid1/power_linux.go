package pid1

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Action is what happens to the machine at the end of a shutdown.
type Action int

const (
	PowerOff Action = iota
	Reboot
)

func (a Action) String() string {
	if a == Reboot {
		return "reboot"
	}
	return "power off"
}

// DisableCtrlAltDel makes the kernel send SIGINT to PID 1 on
// Ctrl-Alt-Del instead of rebooting at once, so the supervisor can stop
// services first.
func DisableCtrlAltDel() error {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return fmt.Errorf("disable ctrl-alt-del: %w", err)
	}
	return nil
}

// SetHostname sets the kernel's host name.
func SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname %q: %w", name, err)
	}
	return nil
}

// Halt syncs the filesystems and powers the machine off or reboots it.
// It returns only if the kernel refused, which leaves PID 1 running.
func Halt(a Action) error {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if a == Reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

// IsPID1 reports whether this process is the system's init.
func IsPID1() bool { return os.Getpid() == 1 }

package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Uevent is a kernel device event (a kobject uevent), as the kernel sends
// it on NETLINK_KOBJECT_UEVENT: "ACTION@DEVPATH\0KEY=VALUE\0…".
type Uevent struct {
	Action    string // add, remove, change, online, offline, bind, …
	DevPath   string // /devices/…/block/vdg
	Subsystem string
	DevType   string // disk, partition
	DevName   string // vdg
	Env       map[string]string
}

// IsDisk reports whether the event is about a whole block device.
func (u Uevent) IsDisk() bool { return u.Subsystem == "block" && u.DevType == "disk" }

// maxUevent bounds a message (the kernel's UEVENT_BUFFER_SIZE is 2048).
const maxUevent = 8192

// ParseUevent decodes one kernel uevent message. Messages from udev
// (starting "libudev") and malformed ones are errors.
func ParseUevent(b []byte) (Uevent, error) {
	if len(b) > maxUevent {
		return Uevent{}, fmt.Errorf("uevent: %d bytes, more than %d", len(b), maxUevent)
	}
	fields := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	head := string(fields[0])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") {
		return Uevent{}, fmt.Errorf("uevent: header %q is not ACTION@DEVPATH", truncate(head, 64))
	}
	u := Uevent{Action: action, DevPath: devpath, Env: map[string]string{}}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			continue
		}
		u.Env[k] = val
	}
	if a := u.Env["ACTION"]; a != "" && a != action {
		return Uevent{}, fmt.Errorf("uevent: header says %q, ACTION=%q", action, a)
	}
	u.Subsystem, u.DevType, u.DevName = u.Env["SUBSYSTEM"], u.Env["DEVTYPE"], u.Env["DEVNAME"]
	return u, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ListenUevents calls fn for every kernel uevent until ctx is done. It
// returns an error if the socket cannot be opened; otherwise ctx's error.
func ListenUevents(ctx context.Context, fn func(Uevent)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return fmt.Errorf("uevent socket: %w", err)
	}
	var closeOnce bool
	closeFd := func() {
		if !closeOnce {
			closeOnce = true
			unix.Close(fd)
		}
	}
	defer closeFd()
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		return fmt.Errorf("uevent bind: %w", err)
	}
	// A receive timeout lets the loop notice ctx without another fd.
	tv := unix.Timeval{Sec: 0, Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("uevent socket timeout: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	buf := make([]byte, maxUevent)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOBUFS) {
			continue // dropped events; the caller's backstop rescans
		}
		if err != nil {
			return fmt.Errorf("uevent receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel's messages
		}
		u, err := ParseUevent(buf[:n])
		if err != nil {
			continue
		}
		fn(u)
	}
	return ctx.Err()
}

package raid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher follows one array through md's sysfs notifications: the kernel
// calls sysfs_notify on array_state, degraded, sync_action,
// sync_completed and every member's state when they change, and on
// /proc/mdstat for any md event (members added or removed). A poll()er
// holding those files open wakes at once, so a failure is seen within
// milliseconds, not at the next tick of a slow loop.
type Watcher struct {
	Sys Sysfs
	// ProcRoot is /proc (for mdstat); "" disables that file.
	ProcRoot string
	// SyncTick is how often status is re-read while a sync runs, for
	// progress (sync_completed is also notified, but only in large
	// steps); 0 means 1 s.
	SyncTick time.Duration
	// Backstop re-reads the status this often even without a
	// notification (a missed wake-up costs at most this); 0 means 10 s.
	Backstop time.Duration
	// MinInterval bounds how often a burst of notifications is handled;
	// 0 means 20 ms.
	MinInterval time.Duration
}

// watched attributes of the array (relative to block/<array>/md).
var watchedAttrs = []string{"array_state", "degraded", "sync_action", "sync_completed"}

// Watch calls onStatus with the array's status now and after every
// change, until ctx is done. A read that fails (the array was stopped)
// is passed as a status with ArrayState "" and retried at the backstop
// interval. Watch returns ctx's error, or an error if epoll itself fails.
func (w Watcher) Watch(ctx context.Context, array string, onStatus func(ArrayStatus, error)) error {
	syncTick, backstop, minInt := w.SyncTick, w.Backstop, w.MinInterval
	if syncTick == 0 {
		syncTick = time.Second
	}
	if backstop == 0 {
		backstop = 10 * time.Second
	}
	if minInt == 0 {
		minInt = 20 * time.Millisecond
	}
	if err := checkName(array); err != nil {
		return err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("md watch: epoll: %w", err)
	}
	defer unix.Close(ep)
	// An eventfd wakes the wait when ctx ends.
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("md watch: eventfd: %w", err)
	}
	defer unix.Close(wake)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		return fmt.Errorf("md watch: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		var one = [8]byte{1}
		unix.Write(wake, one[:])
	})
	defer stop()

	files := map[string]*os.File{} // path → open attribute
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	mdDir := filepath.Join(w.Sys.Root, "block", array, "md")
	// sync opens the files that should be watched and closes the rest
	// (a removed member's attribute would report ready forever).
	sync := func(st ArrayStatus, ok bool) {
		want := map[string]bool{}
		if ok {
			for _, a := range watchedAttrs {
				want[filepath.Join(mdDir, a)] = true
			}
			for _, m := range st.Members {
				want[filepath.Join(mdDir, "dev-"+m.Device, "state")] = true
			}
		}
		if w.ProcRoot != "" {
			want[filepath.Join(w.ProcRoot, "mdstat")] = true
		}
		for p, f := range files {
			if !want[p] {
				unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, int(f.Fd()), nil)
				f.Close()
				delete(files, p)
			}
		}
		for p := range want {
			if _, open := files[p]; open {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				continue // gone already; the next read will say so
			}
			drain(f)
			ev := unix.EpollEvent{Events: unix.EPOLLPRI | unix.EPOLLERR, Fd: int32(f.Fd())}
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(f.Fd()), &ev); err != nil {
				f.Close()
				continue
			}
			files[p] = f
		}
	}
	byFd := func(fd int32) *os.File {
		for _, f := range files {
			if int32(f.Fd()) == fd {
				return f
			}
		}
		return nil
	}

	evs := make([]unix.EpollEvent, 16)
	for {
		st, err := w.Sys.ReadStatus(array)
		sync(st, err == nil)
		if err != nil {
			st = ArrayStatus{Name: array}
		}
		onStatus(st, err)
		timeout := backstop
		if err == nil && st.Syncing() {
			timeout = syncTick
		}
		n, werr := unix.EpollWait(ep, evs, int(timeout/time.Millisecond))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if werr != nil && !errors.Is(werr, unix.EINTR) {
			return fmt.Errorf("md watch %s: epoll_wait: %w", array, werr)
		}
		for _, ev := range evs[:max(n, 0)] {
			if f := byFd(ev.Fd); f != nil {
				drain(f) // re-arms the notification
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(minInt):
		}
	}
}

// drain reads an attribute from its start, which is what re-arms a
// sysfs (kernfs) or /proc/mdstat notification.
func drain(f *os.File) {
	buf := make([]byte, 4096)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		off += int64(n)
		if err != nil || n == 0 {
			return
		}
	}
}

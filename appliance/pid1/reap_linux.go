package pid1

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// Reaper collects the exit status of orphaned processes that the kernel
// re-parents to PID 1, so they do not stay zombies.
//
// Reaping with wait4(-1) would also steal the status of a child that
// os/exec is waiting for; Run therefore holds a read lock while such a
// child runs and reaping takes the write lock. Start every external
// command through Reaper.Run.
type Reaper struct {
	mu sync.RWMutex
	// Reaped is called with each reaped pid (for logging); may be nil.
	Reaped func(pid int, status unix.WaitStatus)
}

// Watch reaps on every SIGCHLD until ctx is done.
func (r *Reaper) Watch(ctx context.Context) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGCHLD)
	defer signal.Stop(ch)
	r.reapAll()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			r.reapAll()
		}
	}
}

func (r *Reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if r.Reaped != nil {
			r.Reaped(pid, ws)
		}
	}
}

// Run runs cmd to completion without the reaper taking its status.
func (r *Reaper) Run(cmd *exec.Cmd) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return cmd.Run()
}

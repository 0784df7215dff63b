package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"keep/qemu/qmp"
)

const (
	// qmpConnectTimeout bounds the wait for QEMU's QMP socket at Start (it
	// appears well under a second after exec, before the guest runs).
	qmpConnectTimeout = 30 * time.Second
	// qmpRetry is the pause between attempts to connect to the QMP socket.
	qmpRetry = 20 * time.Millisecond
	// reapTimeout bounds the wait for QEMU to disappear after SIGKILL.
	reapTimeout = 10 * time.Second
	// startAttempts is how often Start tries when an auto-picked port was
	// taken between picking it and QEMU binding it.
	startAttempts = 3
)

// errPortTaken marks a startup failure caused by a host port already in use.
var errPortTaken = errors.New("host port already in use")

// VM is a running QEMU process started by Machine.Start. Its owner must call
// Close (tests: t.Cleanup), which guarantees the process is gone.
type VM struct {
	m       Machine
	args    []string
	cmd     *exec.Cmd
	started time.Time
	qmp     *qmp.Client
	console *Console

	exited chan struct{} // closed once QEMU has exited and been reaped
	status ExitStatus    // valid once exited is closed

	// plugMu guards plugged, the disks PlugDisk added (by ID).
	plugMu  sync.Mutex
	plugged map[string]bool

	closeOnce sync.Once
	closeErr  error
}

// ExitStatus is how QEMU ended. QEMU exits 0 when the guest powers off, when
// QMP quit is used, and — because of -no-reboot with panic=-1 — when the guest
// resets or panics (with Machine.Reboot the guest restarts instead); the QMP
// SHUTDOWN event's reason ("guest-shutdown", "guest-reset", "host-qmp-quit",
// …) tells them apart.
type ExitStatus struct {
	Code   int            // exit code; -1 if a signal ended QEMU
	Signal syscall.Signal // the signal that ended QEMU, 0 otherwise
}

// Err is nil for a clean exit (code 0) and describes any other ending.
func (s ExitStatus) Err() error {
	if s.Code == 0 && s.Signal == 0 {
		return nil
	}
	return fmt.Errorf("qemu %s", s)
}

func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return "killed by " + unix.SignalName(s.Signal)
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// Start creates Dir and the disk images, picks free host ports for forwards
// and listeners on port 0, starts QEMU in its own process group with its
// output in Dir/qemu.log, and connects to QMP. ctx bounds the startup only;
// the VM lives until it exits or Close is called. If QEMU exits during
// startup the error includes the end of qemu.log.
func (m Machine) Start(ctx context.Context) (*VM, error) {
	if m.Dir == "" {
		return nil, invalid("Dir is required")
	}
	dir, err := filepath.Abs(m.Dir)
	if err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	m.Dir = dir
	m = m.withDefaults()
	if _, err := m.Args(); err != nil && !errors.Is(err, ErrPortUnallocated) {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	if err := m.checkHost(); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start vm: %w", err)
	}
	for _, d := range m.Disks {
		if err := prepareDisk(m.Dir, d); err != nil {
			return nil, fmt.Errorf("start vm: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		run := m.withDefaults() // a fresh copy: ports still 0
		picked, err := allocatePorts(&run)
		if err != nil {
			return nil, fmt.Errorf("start vm: %w", err)
		}
		vm, err := launch(ctx, run)
		if err == nil {
			return vm, nil
		}
		if !picked || attempt == startAttempts || !errors.Is(err, errPortTaken) {
			return nil, fmt.Errorf("start vm: %w", err)
		}
	}
}

// checkHost verifies the binary and the boot files exist, so a missing
// dependency is named plainly rather than as a QEMU startup failure.
func (m Machine) checkHost() error {
	if _, err := exec.LookPath(m.QEMU); err != nil {
		return fmt.Errorf("qemu binary: %w", err)
	}
	for _, f := range []string{m.Kernel, m.Initrd} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("boot file: %w", err)
		}
	}
	return nil
}

// launch runs QEMU once for a machine whose ports are allocated.
func launch(ctx context.Context, m Machine) (*VM, error) {
	args, err := m.Args()
	if err != nil {
		return nil, err
	}
	// A previous run's files would be mistaken for this one's.
	for _, p := range []string{m.ConsoleLog(), m.QMPSocket()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	logf, err := os.Create(m.QEMULog())
	if err != nil {
		return nil, fmt.Errorf("create qemu log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(m.QEMU, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Kill takes every process QEMU might have spawned,
	// and a terminal's Ctrl-C reaches only the harness, which decides.
	// Pdeathsig: QEMU dies with the test binary even if Close never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", m.QEMU, err)
	}
	vm := &VM{
		m:       m,
		args:    args,
		cmd:     cmd,
		started: time.Now(),
		exited:  make(chan struct{}),
	}
	vm.console = newConsole(m.ConsoleLog(), vm.exited)
	go vm.reap()
	vm.qmp, err = vm.connectQMP(ctx)
	if err != nil {
		vm.Close()
		return nil, startupError(m.QEMULog(), err)
	}
	return vm, nil
}

// reap waits for QEMU to exit and records how. It is the VM's only waiter and
// returns when the process is gone; Close makes sure that happens.
func (vm *VM) reap() {
	_ = vm.cmd.Wait() // its error only restates the process state read below
	st := ExitStatus{Code: -1}
	if ps := vm.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = ws.Signal()
		} else {
			st.Code = ps.ExitCode()
		}
	}
	vm.status = st
	close(vm.exited)
}

// connectQMP dials the QMP socket until QEMU has created it.
func (vm *VM) connectQMP(ctx context.Context) (*qmp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, qmpConnectTimeout)
	defer cancel()
	tick := time.NewTicker(qmpRetry)
	defer tick.Stop()
	for {
		c, err := qmp.Dial(ctx, vm.m.QMPSocket())
		if err == nil {
			return c, nil
		}
		select {
		case <-vm.exited:
			return nil, fmt.Errorf("qemu %s during startup", vm.status)
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to QMP: %w (last attempt: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// startupError adds the end of qemu.log to a startup failure and marks port
// conflicts so Start can retry with other ports.
func startupError(logPath string, err error) error {
	b, _ := os.ReadFile(logPath)
	log := lastLines(string(b), 20)
	if strings.Contains(log, "Could not set up host forwarding rule") ||
		strings.Contains(log, "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	if log == "" {
		return err
	}
	return fmt.Errorf("%w\n--- %s ---\n%s", err, logPath, log)
}

// Wait waits for QEMU to exit and returns how it ended. The error is non-nil
// only when ctx ends first.
func (vm *VM) Wait(ctx context.Context) (ExitStatus, error) {
	select {
	case <-vm.exited:
		return vm.status, nil
	case <-ctx.Done():
		return ExitStatus{}, fmt.Errorf("wait for qemu: %w", ctx.Err())
	}
}

// Exited is closed once QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Kill sends SIGKILL to QEMU's process group. It does not wait; Wait or Close do.
func (vm *VM) Kill() error {
	select {
	case <-vm.exited:
		return nil
	default:
	}
	pid := vm.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill qemu (pid %d): %w", pid, err)
	}
	return nil
}

// Close ends the VM: it kills QEMU if it still runs (no graceful shutdown:
// use QMP SystemPowerdown and Wait first for that), waits for the process to
// be gone, and closes the QMP connection. It is safe to call more than once
// and from t.Cleanup whether or not the test failed.
func (vm *VM) Close() error {
	vm.closeOnce.Do(func() {
		var errs []error
		if err := vm.Kill(); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-vm.exited:
		case <-time.After(reapTimeout):
			errs = append(errs, fmt.Errorf("qemu (pid %d) still running %v after SIGKILL", vm.cmd.Process.Pid, reapTimeout))
		}
		if vm.qmp != nil {
			if err := vm.qmp.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		vm.console.close()
		vm.closeErr = errors.Join(errs...)
	})
	return vm.closeErr
}

// QMP returns the VM's QMP client (QEMU allows only this one).
func (vm *VM) QMP() *qmp.Client { return vm.qmp }

// Console returns the guest's serial console.
func (vm *VM) Console() *Console { return vm.console }

// Machine returns the description the VM runs: defaults filled in, Dir
// absolute, ports allocated.
func (vm *VM) Machine() Machine { return vm.m.withDefaults() }

// Args returns QEMU's arguments as run.
func (vm *VM) Args() []string { return slices.Clone(vm.args) }

// PID returns QEMU's process id (also its process group id).
func (vm *VM) PID() int { return vm.cmd.Process.Pid }

// StartTime returns when QEMU was executed.
func (vm *VM) StartTime() time.Time { return vm.started }

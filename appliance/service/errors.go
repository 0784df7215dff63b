package service

import (
	"errors"
	"fmt"
)

// Validation errors from New; each problem is wrapped with the names
// involved, and all problems are joined.
var (
	ErrInvalidSpec       = errors.New("invalid service spec")
	ErrDuplicateService  = errors.New("duplicate service")
	ErrUnknownDependency = errors.New("unknown dependency")
	ErrDependencyCycle   = errors.New("dependency cycle")
)

// Errors from Tree methods.
var (
	// ErrAlreadyRunning: Run was called while the tree runs.
	ErrAlreadyRunning = errors.New("service tree already running")
	// ErrStopped: Run was called after the tree was shut down; a tree runs
	// once.
	ErrStopped = errors.New("service tree stopped")
	// ErrNotRunning: Restart was called while the tree is not running
	// (before Run, or during or after shutdown).
	ErrNotRunning = errors.New("service tree not running")
	// ErrUnknownService: no service of that name.
	ErrUnknownService = errors.New("unknown service")
	// ErrNotRestartable: Restart of a service that is waiting, blocked or
	// already stopping.
	ErrNotRestartable = errors.New("service cannot be restarted now")
	// ErrStopTimeout: a service did not return within its StopTimeout and
	// was abandoned at shutdown.
	ErrStopTimeout = errors.New("service did not stop in time")
)

// Causes of a failed run, as recorded in ServiceStatus.LastError.
var (
	// ErrUnexpectedExit: Run returned nil (or called runtime.Goexit)
	// although nobody asked it to stop.
	ErrUnexpectedExit = errors.New("service exited without being asked to stop")
	// ErrPanic: Run or Health panicked; errors.As finds the *PanicError.
	ErrPanic = errors.New("service panicked")
	// ErrHealthTimeout: a health check was still running when the next
	// one was due.
	ErrHealthTimeout = errors.New("health check timed out")
)

// PanicError is a recovered panic from a service's Run or Health.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value if it was an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

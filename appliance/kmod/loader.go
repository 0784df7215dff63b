package kmod

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// ErrDependency is returned (wrapped, in a Result) for a module that was not
// attempted because one of its hard dependencies did not load.
var ErrDependency = errors.New("dependency not loaded")

// Status is what loading one module came to.
type Status int

const (
	// Loaded: the module was inserted by this call.
	Loaded Status = iota + 1
	// AlreadyLoaded: <sys>/module/<name> existed, or the kernel said EEXIST.
	AlreadyLoaded
	// Builtin: the module is compiled into the kernel; nothing to do.
	Builtin
	// NoDevice: the module's init returned ENODEV or ENXIO, i.e. the
	// hardware it drives is absent (ipmi_si without a BMC). Not a failure.
	NoDevice
	// Failed: the module could not be loaded; Result.Err says why.
	Failed
)

func (s Status) String() string {
	switch s {
	case Loaded:
		return "loaded"
	case AlreadyLoaded:
		return "already"
	case Builtin:
		return "builtin"
	case NoDevice:
		return "no-device"
	case Failed:
		return "error"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Result is the outcome of loading one module.
type Result struct {
	Module   string
	Status   Status
	Err      error // set for NoDevice and Failed
	Duration time.Duration
}

// Loader loads module closures into the running kernel.
type Loader struct {
	// DB is the module database; module files are read from its FS, or
	// opened under its Dir for finit_module when it has one.
	DB *DB
	// Sys is the sysfs mount point ("/sys"); a module counts as loaded when
	// <Sys>/module/<name> exists.
	Sys string
	// Params holds module parameters (see ParseCmdline); may be nil.
	Params Params

	k kernel
}

// NewLoader returns a Loader that makes real syscalls.
func NewLoader(db *DB, sys string, params Params) *Loader {
	return &Loader{DB: db, Sys: sys, Params: params, k: linuxKernel{}}
}

// Load loads the named modules and their closures (see DB.Closure) in load
// order and returns one Result per module, names the DB does not know
// first. Modules already loaded are skipped; a module whose hard dependency
// did not load is not attempted (Failed, ErrDependency). NoDevice results
// are not errors. The error joins the errors of all Failed results; it is
// nil when none failed. Load checks ctx between modules.
func (l *Loader) Load(ctx context.Context, names ...string) ([]Result, error) {
	var results []Result
	var errs []error
	var known []string
	for _, n := range names {
		if _, err := l.DB.Closure(n); err != nil {
			err = fmt.Errorf("load %s: %w", n, err)
			results = append(results, Result{Module: NormalizeName(n), Status: Failed, Err: err})
			errs = append(errs, err)
			continue
		}
		known = append(known, n)
	}
	mods, err := l.DB.Closure(known...)
	if err != nil { // unreachable: every name's closure was checked above
		return results, errors.Join(append(errs, err)...)
	}
	missing := map[string]bool{}
	for _, m := range mods {
		if err := ctx.Err(); err != nil {
			return results, errors.Join(append(errs, err)...)
		}
		r := l.loadOne(m, missing)
		if r.Status == Failed || r.Status == NoDevice {
			missing[m.Name] = true
		}
		if r.Status == Failed {
			errs = append(errs, r.Err)
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// loadOne loads a single module whose dependencies have been dealt with;
// missing holds the modules that did not load.
func (l *Loader) loadOne(m Module, missing map[string]bool) Result {
	start := time.Now()
	r := Result{Module: m.Name}
	switch {
	case m.Builtin:
		r.Status = Builtin
	case l.kernel().exists(filepath.Join(l.Sys, "module", m.Name)):
		r.Status = AlreadyLoaded
	default:
		r.Status, r.Err = l.insert(m, missing)
	}
	r.Duration = time.Since(start)
	return r
}

func (l *Loader) insert(m Module, missing map[string]bool) (Status, error) {
	for _, d := range m.Deps {
		if missing[d] {
			return Failed, fmt.Errorf("load %s: %w: %s", m.Name, ErrDependency, d)
		}
	}
	params := l.Params[m.Name]
	var err error
	if dir := l.DB.Dir(); dir != "" && !compressed(m.Path) {
		err = l.kernel().finitModule(filepath.Join(dir, filepath.FromSlash(m.Path)), params)
	} else {
		var image []byte
		if image, err = readModuleImage(l.DB.FS(), m.Path); err != nil {
			return Failed, fmt.Errorf("load %s: %w", m.Name, err)
		}
		err = l.kernel().initModule(image, params)
	}
	switch {
	case err == nil:
		return Loaded, nil
	case errors.Is(err, syscall.EEXIST):
		return AlreadyLoaded, nil
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return NoDevice, fmt.Errorf("load %s: no device: %w", m.Name, err)
	}
	return Failed, fmt.Errorf("load %s: %w", m.Name, err)
}

func (l *Loader) kernel() kernel {
	if l.k == nil {
		return linuxKernel{}
	}
	return l.k
}

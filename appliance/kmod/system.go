package kmod

import (
	"fmt"
	"path/filepath"
)

// Paths says where the running system keeps what the loader needs.
type Paths struct {
	Modules string // modules directory of the running kernel
	Sys     string // sysfs mount point
	Cmdline string // kernel command line file; "" for no module parameters
}

// DefaultPaths returns the standard locations for the running kernel:
// /lib/modules/<uname -r>, /sys and /proc/cmdline.
func DefaultPaths() (Paths, error) {
	rel, err := kernelRelease()
	if err != nil {
		return Paths{}, fmt.Errorf("kernel release: %w", err)
	}
	return Paths{
		Modules: filepath.Join("/lib/modules", rel),
		Sys:     "/sys",
		Cmdline: "/proc/cmdline",
	}, nil
}

// Loader opens the module database and reads the module parameters of the
// kernel command line, and returns a Loader making real syscalls.
func (p Paths) Loader() (*Loader, error) {
	db, err := OpenDir(p.Modules)
	if err != nil {
		return nil, fmt.Errorf("module database: %w", err)
	}
	params := Params{}
	if p.Cmdline != "" {
		if params, err = ReadCmdline(p.Cmdline); err != nil {
			return nil, err
		}
	}
	return NewLoader(db, p.Sys, params), nil
}

package kmod

import (
	"os"

	"golang.org/x/sys/unix"
)

// linuxKernel makes the real module syscalls.
type linuxKernel struct{}

func (linuxKernel) finitModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.FinitModule(int(f.Fd()), params, 0)
}

func (linuxKernel) initModule(image []byte, params string) error {
	return unix.InitModule(image, params)
}

func (linuxKernel) exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// kernelRelease returns uname -r.
func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

//go:build !linux

package kmod

import (
	"errors"
	"os"
)

// linuxKernel exists off Linux so that the database half of the package
// (used by the image builder) builds everywhere; loading fails.
type linuxKernel struct{}

func (linuxKernel) finitModule(string, string) error { return errors.ErrUnsupported }
func (linuxKernel) initModule([]byte, string) error  { return errors.ErrUnsupported }

func (linuxKernel) exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func kernelRelease() (string, error) { return "", errors.ErrUnsupported }

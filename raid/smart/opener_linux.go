package smart

import (
	"io"
	"time"
)

// LinuxOpener opens /dev nodes as LinuxATA and LinuxNVMe.
type LinuxOpener struct {
	// Timeout per command; zero means DefaultTimeout.
	Timeout time.Duration
}

var _ Opener = LinuxOpener{}

// OpenATA opens path for SG_IO.
func (o LinuxOpener) OpenATA(path string) (ATADevice, io.Closer, error) {
	d, err := OpenATA(path)
	if err != nil {
		return nil, nil, err
	}
	d.Timeout = o.Timeout
	return d, d, nil
}

// OpenNVMe opens path for NVMe admin commands.
func (o LinuxOpener) OpenNVMe(path string) (NVMeDevice, io.Closer, error) {
	d, err := OpenNVMe(path)
	if err != nil {
		return nil, nil, err
	}
	d.Timeout = o.Timeout
	return d, d, nil
}

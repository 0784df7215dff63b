//go:build !linux

package smart

import (
	"fmt"
	"io"
	"time"
)

// DefaultTimeout bounds one SMART command when the context has no
// earlier deadline.
const DefaultTimeout = 10 * time.Second

// LinuxOpener exists off Linux so that the decoders and the verdict
// build everywhere; it opens nothing: every device has no SMART there.
type LinuxOpener struct {
	Timeout time.Duration
}

var _ Opener = LinuxOpener{}

// OpenATA always fails with ErrNoSMART off Linux.
func (LinuxOpener) OpenATA(path string) (ATADevice, io.Closer, error) {
	return nil, nil, fmt.Errorf("smart: open %s: %w (not Linux)", path, ErrNoSMART)
}

// OpenNVMe always fails with ErrNoSMART off Linux.
func (LinuxOpener) OpenNVMe(path string) (NVMeDevice, io.Closer, error) {
	return nil, nil, fmt.Errorf("smart: open %s: %w (not Linux)", path, ErrNoSMART)
}

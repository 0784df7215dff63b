//go:build !linux

package ipmi

import "fmt"

// openLinux exists off Linux so that the decoders and encoders (used by
// test helpers on any host) build everywhere; there is never a BMC.
func openLinux(path string) (device, error) {
	return nil, fmt.Errorf("open %s: %w (not Linux)", path, ErrNoBMC)
}

func isNoDevice(error) bool { return false }

package raid

import (
	"fmt"

	"keep/raid/md"
)

// WriteMembers writes a plan to its devices (devs[i] gets
// p.Superblocks[i]) in crash-safe order: first every bitmap, synced; then
// every superblock, synced. The superblock is the commit point: a device
// without one is blank to assembly, so a crash leaves either blank devices
// or members that assemble (or are refused) by the normal rules. On error
// it stops at once and says which device failed.
func WriteMembers(p *Plan, devs []MemberDevice) error {
	if len(devs) != len(p.Superblocks) {
		return fmt.Errorf("write array: %d devices for %d superblocks: %w",
			len(devs), len(p.Superblocks), ErrInvalidSpec)
	}
	if p.Bitmap != nil {
		for i, dev := range devs {
			if err := md.WriteBitmap(dev, p.Superblocks[i], p.Bitmap); err != nil {
				return fmt.Errorf("write array: device %d bitmap: %w", i, err)
			}
			if err := dev.Sync(); err != nil {
				return fmt.Errorf("write array: device %d sync: %w", i, err)
			}
		}
	}
	for i, dev := range devs {
		if err := md.Write(dev, p.Superblocks[i]); err != nil {
			return fmt.Errorf("write array: device %d superblock: %w", i, err)
		}
		if err := dev.Sync(); err != nil {
			return fmt.Errorf("write array: device %d sync: %w", i, err)
		}
	}
	return nil
}

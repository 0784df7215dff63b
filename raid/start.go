package raid

import (
	"errors"
	"fmt"
)

// Start hands a decided array to the kernel: it creates the md device
// array (e.g. "md127"), sets metadata 1.2, imports every slot holder then
// every spare (the kernel reads and validates each superblock), and sets
// the array active. devOf maps a member to its block device number.
//
// A refused decision starts nothing and touches nothing. If any step
// fails, Start writes "clear" to undo the half-built array, so no member
// stays bound to it, and returns the first error.
func Start(k Kernel, array string, d Decision, devOf func(Member) (DevNum, error)) (err error) {
	if d.Action == Refuse {
		return fmt.Errorf("start %s: %w", array, ErrTooFewMembers)
	}
	devs := d.Devices()
	nums := make([]DevNum, len(devs))
	for i, m := range devs {
		if nums[i], err = devOf(m); err != nil {
			return fmt.Errorf("start %s: member %s: %w", array, m.Device, err)
		}
	}
	if err := k.NewArray(array); err != nil {
		return fmt.Errorf("start %s: %w", array, err)
	}
	defer func() {
		if err != nil {
			if cerr := k.SetArrayState(array, "clear"); cerr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", cerr))
			}
		}
	}()
	if err := k.SetMetadataVersion(array, "1.2"); err != nil {
		return fmt.Errorf("start %s: %w", array, err)
	}
	for i, m := range devs {
		if err := k.AddDevice(array, nums[i]); err != nil {
			return fmt.Errorf("start %s: add member %s (%s): %w", array, m.Device, nums[i], err)
		}
	}
	if err := k.SetArrayState(array, "active"); err != nil {
		return fmt.Errorf("start %s: run: %w", array, err)
	}
	return nil
}

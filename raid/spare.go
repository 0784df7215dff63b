package raid

import (
	"fmt"
	"io"
	"slices"
	"time"

	"keep/raid/md"
)

// NewSpare computes the superblock for a blank device joining a running
// array as a hot spare: a copy of ref (a current member's superblock, as
// the kernel last wrote it) with a fresh device UUID, a dev_number no
// member uses (the kernel refuses a second device with the same one), the
// role spare, this device's data size, and no recovery or replacement
// state. inUse are the dev_numbers of the array's current members.
//
// The kernel never writes a v1.x superblock for a device it imports
// (notes/qemu.md §3): the device must carry this before it is added.
func NewSpare(ref *md.Superblock, deviceSectors uint64, inUse []uint32, now time.Time, rnd io.Reader) (*md.Superblock, error) {
	need := ref.DataOffset + ref.Size
	if deviceSectors < need {
		return nil, fmt.Errorf("spare: device has %d sectors, the array needs %d (data offset %d + component %d): %w",
			deviceSectors, need, ref.DataOffset, ref.Size, ErrDeviceTooSmall)
	}
	sb := *ref
	sb.DevRoles = slices.Clone(ref.DevRoles)
	n := uint32(0)
	for slices.Contains(inUse, n) {
		n++
	}
	if int(n) >= md.MaxDevs {
		return nil, fmt.Errorf("spare: no free device number: %w", ErrInvalidSpec)
	}
	for int(n) >= len(sb.DevRoles) {
		// Grow dev_roles by a sector's worth of entries, as mdadm does.
		for range md.SectorSize / 2 {
			sb.DevRoles = append(sb.DevRoles, md.RoleSpare)
		}
	}
	sb.DevNumber = n
	sb.DevRoles[n] = md.RoleSpare
	var err error
	if sb.DeviceUUID, err = md.NewUUID(rnd); err != nil {
		return nil, fmt.Errorf("spare: %w", err)
	}
	sb.DataSize = deviceSectors - sb.DataOffset
	sb.FeatureMap &^= md.FeatureRecoveryOffset | md.FeatureReplacement | md.FeatureRecoveryBitmap
	sb.RecoveryOffset = 0
	sb.DevFlags = 0
	sb.CntCorrectedRead = 0
	sb.UTime = md.NewTime(now.Truncate(time.Second))
	return &sb, nil
}

// WriteSpare writes a spare's bitmap (when the array has one; a copy of
// the array's bitmap header with every bit dirty) then its superblock,
// each synced: the superblock last, as in WriteMembers.
func WriteSpare(dev MemberDevice, sb *md.Superblock, bm *md.Bitmap) error {
	if sb.FeatureMap&md.FeatureBitmapOffset != 0 {
		if bm == nil {
			return fmt.Errorf("write spare: the array has a bitmap but none was given: %w", ErrInvalidSpec)
		}
		if err := md.WriteBitmap(dev, sb, bm); err != nil {
			return fmt.Errorf("write spare: %w", err)
		}
		if err := dev.Sync(); err != nil {
			return fmt.Errorf("write spare: sync: %w", err)
		}
	}
	if err := md.Write(dev, sb); err != nil {
		return fmt.Errorf("write spare: %w", err)
	}
	if err := dev.Sync(); err != nil {
		return fmt.Errorf("write spare: sync: %w", err)
	}
	return nil
}

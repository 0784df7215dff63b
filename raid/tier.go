package raid

import (
	"fmt"

	"keep/raid/md"
)

// Tier is a storage preset: the shape of the data array for a class of
// appliance. Tiers are data; configuration picks one by name.
type Tier struct {
	Name     string
	Level    md.Level
	Members  int    // active members
	Spares   int    // hot spares
	ChunkKiB uint32 // 0: DefaultChunkKiB
}

// tiers is the preset table, modelled on the seed's tier table (5 TB to
// 200 TB of backend capacity on SATA/SAS disks with a hot spare):
//
//   - small: RAID5 over 4 disks + 1 spare. Entry boxes; one disk of
//     parity is acceptable because the spare starts the rebuild at once.
//   - compact: RAID6 over 5 disks + 1 spare. Six-bay boxes, and the QEMU
//     test machine (6 data disks).
//   - standard: RAID6 over 6 disks + 1 spare. The default: survives two
//     failures, the spare shortens the window after the first.
//   - performance: RAID10 near-2 over 8 disks, no spare. Ingest-heavy
//     sites; half the raw capacity, no parity writes, rebuilds copy one
//     mirror.
//
// Chunk 512 KiB (mdadm's default) everywhere: backup streams are large
// sequential writes. Every tier gets an internal write-intent bitmap.
func tiers() []Tier {
	return []Tier{
		{Name: "small", Level: md.LevelRAID5, Members: 4, Spares: 1},
		{Name: "compact", Level: md.LevelRAID6, Members: 5, Spares: 1},
		{Name: "standard", Level: md.LevelRAID6, Members: 6, Spares: 1},
		{Name: "performance", Level: md.LevelRAID10, Members: 8, Spares: 0},
	}
}

// Tiers returns the presets (a fresh copy).
func Tiers() []Tier { return tiers() }

// TierByName returns the preset called name.
func TierByName(name string) (Tier, error) {
	for _, t := range tiers() {
		if t.Name == name {
			return t, nil
		}
	}
	return Tier{}, fmt.Errorf("tier %q: %w", name, ErrUnknownTier)
}

// Disks is the number of devices the tier needs.
func (t Tier) Disks() int { return t.Members + t.Spares }

// Spec returns the array spec for this tier over devices of the given
// sizes (members first, then spares), with an internal bitmap.
func (t Tier) Spec(name string, deviceSectors []uint64) Spec {
	return Spec{
		Name:          name,
		Level:         t.Level,
		Members:       t.Members,
		Spares:        t.Spares,
		ChunkKiB:      t.ChunkKiB,
		Bitmap:        true,
		DeviceSectors: deviceSectors,
	}
}

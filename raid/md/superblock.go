package md

// Superblock is struct mdp_superblock_1 (include/uapi/linux/raid/md_p.h),
// every field, decoded to host order. Keep writes version 1.2: the
// superblock lives 4 KiB from the start of each member (SuperOffset 8).
//
// Offsets and sizes are in 512-byte sectors unless a name says otherwise.
// The zero value is not valid; Plan in package raid builds new ones.
type Superblock struct {
	FeatureMap Feature // feature_map
	SetUUID    UUID    // set_uuid: the array's identity
	// SetName is set_name as stored: up to 32 bytes, NUL padded, not
	// necessarily NUL terminated. Name and SetNameString convert.
	SetName [32]byte
	CTime   Time   // ctime: array creation
	Level   Level  // level
	Layout  uint32 // layout (LayoutLeftSymmetric, LayoutRAID10Near2, ...)
	// Size is the used size of each component (sectors); the array's size
	// follows from it, Level, Layout and RaidDisks (see ArraySectors).
	Size      uint64
	ChunkSize uint32 // chunksize, sectors
	RaidDisks uint32 // raid_disks: active slots, spares not counted
	// BitmapOffset is the signed distance from the superblock to the
	// internal bitmap, meaningful with FeatureBitmapOffset. With
	// FeaturePPL the same word holds the PPL offset and size (PPL()).
	BitmapOffset int32

	// Reshape fields, meaningful with FeatureReshapeActive.
	NewLevel        Level
	ReshapePosition uint64 // next address in array space
	DeltaDisks      int32
	NewLayout       uint32
	NewChunk        uint32 // sectors
	NewOffset       int32  // added to DataOffset in the new layout (FeatureNewOffset)

	DataOffset  uint64 // data_offset: first data sector on this member
	DataSize    uint64 // data_size: sectors usable for data on this member
	SuperOffset uint64 // super_offset: where this superblock is (8 for 1.2)
	// RecoveryOffset: sectors before it (from DataOffset) are recovered,
	// meaningful with FeatureRecoveryOffset. A journal device keeps its
	// journal tail in the same word.
	RecoveryOffset   uint64
	DevNumber        uint32 // dev_number: index into DevRoles, not the slot
	CntCorrectedRead uint32 // read errors corrected by rewriting
	DeviceUUID       UUID   // device_uuid: this member's identity
	DevFlags         DevFlag
	BBLogShift       uint8  // bad-block log: shift from sectors to block size
	BBLogSize        uint16 // sectors reserved for the bad-block log
	BBLogOffset      int32  // signed sectors from the superblock to the log

	UTime        Time   // utime: last update
	Events       uint64 // events: bumped on every superblock update
	ResyncOffset uint64 // data before this (from DataOffset) is in sync; ResyncDone = clean
	// Checksum is sb_csum as read by Decode; Encode computes it afresh.
	Checksum uint32
	// DevRoles is dev_roles[max_dev]: the role of every dev_number.
	// len(DevRoles) is max_dev.
	DevRoles []Role
}

// Feature is the feature_map bit set.
type Feature uint32

// Feature bits (md_p.h). Bit 8 is MD_FEATURE_CLUSTERED to the kernel and
// MD_FEATURE_BITMAP_VERSIONED to mdadm; both set it for clustered md.
const (
	FeatureBitmapOffset     Feature = 1
	FeatureRecoveryOffset   Feature = 2
	FeatureReshapeActive    Feature = 4
	FeatureBadBlocks        Feature = 8
	FeatureReplacement      Feature = 16
	FeatureReshapeBackwards Feature = 32
	FeatureNewOffset        Feature = 64
	FeatureRecoveryBitmap   Feature = 128
	FeatureClustered        Feature = 256
	FeatureJournal          Feature = 512
	FeaturePPL              Feature = 1024
	FeatureMultiplePPLs     Feature = 2048
	FeatureRAID0Layout      Feature = 4096
	FeatureAll              Feature = 8191
)

// DevFlag is the devflags byte.
type DevFlag uint8

// Device flags.
const (
	DevFlagWriteMostly DevFlag = 1
	DevFlagFailFast    DevFlag = 2
)

// On-disk constants.
const (
	// Magic is MD_SB_MAGIC.
	Magic uint32 = 0xa92b4efc
	// MajorVersion is the only superblock major version this package reads.
	MajorVersion uint32 = 1
	// HeaderSize is the fixed part of the superblock; dev_roles follow.
	HeaderSize = 256
	// MaxSuperblockSize is what the kernel reads: one 4 KiB page.
	MaxSuperblockSize = 4096
	// MaxDevs is the largest max_dev the kernel accepts ((4096-256)/2).
	MaxDevs = (MaxSuperblockSize - HeaderSize) / 2
	// V12SuperOffset is where a version 1.2 superblock lives, in sectors.
	V12SuperOffset = 8
	// SectorSize is md's unit.
	SectorSize = 512
	// ResyncDone is resync_offset of a clean array (MaxSector).
	ResyncDone = ^uint64(0)
)

// Name returns SetName up to its first NUL.
func (sb *Superblock) Name() string {
	for i, c := range sb.SetName {
		if c == 0 {
			return string(sb.SetName[:i])
		}
	}
	return string(sb.SetName[:])
}

// SetNameString stores name in SetName, NUL padded; it reports false (and
// stores nothing) when name does not fit in 32 bytes.
func (sb *Superblock) SetNameString(name string) bool {
	if len(name) > len(sb.SetName) {
		return false
	}
	sb.SetName = [32]byte{}
	copy(sb.SetName[:], name)
	return true
}

// Role returns this member's role: DevRoles[DevNumber], or RoleSpare when
// DevNumber is outside the table (as the kernel treats it).
func (sb *Superblock) Role() Role {
	if int64(sb.DevNumber) < int64(len(sb.DevRoles)) {
		return sb.DevRoles[sb.DevNumber]
	}
	return RoleSpare
}

// PPL returns the partial-parity-log offset (signed sectors from the
// superblock) and size, which share the bitmap_offset word.
func (sb *Superblock) PPL() (offset int16, size uint16) {
	w := uint32(sb.BitmapOffset)
	return int16(uint16(w)), uint16(w >> 16)
}

// EncodedSize returns the number of bytes the superblock occupies:
// 256 + 2*max_dev.
func (sb *Superblock) EncodedSize() int { return HeaderSize + 2*len(sb.DevRoles) }

// ArraySectors returns the array's size in sectors for the redundant levels
// Keep builds (RAID1/4/5/6/10), computed as the kernel does; 0 for others.
func (sb *Superblock) ArraySectors() uint64 {
	n := uint64(sb.RaidDisks)
	switch sb.Level {
	case LevelRAID1:
		return sb.Size
	case LevelRAID4, LevelRAID5:
		if n < 2 {
			return 0
		}
		return sb.Size * (n - 1)
	case LevelRAID6:
		if n < 3 {
			return 0
		}
		return sb.Size * (n - 2)
	case LevelRAID10:
		return raid10Sectors(sb.Size, sb.ChunkSize, n, sb.Layout)
	}
	return 0
}

// raid10Sectors mirrors the kernel's raid10_size for near/far layouts:
// whole chunks per member, divided by far copies, times members, divided
// by near copies.
func raid10Sectors(size uint64, chunk uint32, disks uint64, layout uint32) uint64 {
	near, far := RAID10Copies(layout)
	if chunk == 0 || near == 0 || far == 0 {
		return 0
	}
	chunks := size / uint64(chunk)
	chunks /= uint64(far)
	chunks *= disks
	chunks /= uint64(near)
	return chunks * uint64(chunk)
}

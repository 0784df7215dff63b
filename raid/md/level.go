package md

import "strconv"

// Level is md's RAID level (signed: linear and multipath are negative).
type Level int32

// Levels as the kernel numbers them.
const (
	LevelMultipath Level = -4
	LevelLinear    Level = -1
	LevelRAID0     Level = 0
	LevelRAID1     Level = 1
	LevelRAID4     Level = 4
	LevelRAID5     Level = 5
	LevelRAID6     Level = 6
	LevelRAID10    Level = 10
)

// String returns the name mdadm prints ("raid6", "linear", ...).
func (l Level) String() string {
	switch l {
	case LevelMultipath:
		return "multipath"
	case LevelLinear:
		return "linear"
	case LevelRAID0, LevelRAID1, LevelRAID4, LevelRAID5, LevelRAID6, LevelRAID10:
		return "raid" + strconv.Itoa(int(l))
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Layouts Keep uses. RAID5/6 left-symmetric is md's ALGORITHM_LEFT_SYMMETRIC;
// RAID10 layouts pack near copies in bits 0-7 and far copies in bits 8-15.
const (
	LayoutLeftSymmetric uint32 = 2
	LayoutRAID10Near2   uint32 = 0x102
)

// RAID10Copies splits a RAID10 layout into its near and far copy counts.
func RAID10Copies(layout uint32) (near, far int) {
	return int(layout & 0xff), int(layout >> 8 & 0xff)
}

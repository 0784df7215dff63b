package raid

import (
	"fmt"

	"keep/raid/md"
)

// enough reports whether an array of this level and layout can run with
// the slots marked present, the way the md personalities decide it:
// RAID1 needs one member, RAID4/5 tolerate one missing, RAID6 two, RAID10
// needs at least one copy of every block (raid10.c _enough).
func enough(level md.Level, layout uint32, present []bool) (bool, error) {
	missing := 0
	for _, p := range present {
		if !p {
			missing++
		}
	}
	n := len(present)
	switch level {
	case md.LevelRAID1:
		return missing < n, nil
	case md.LevelRAID4, md.LevelRAID5:
		return missing <= 1, nil
	case md.LevelRAID6:
		return missing <= 2, nil
	case md.LevelRAID10:
		near, far := md.RAID10Copies(layout)
		if near < 1 || far < 1 || n == 0 {
			return false, fmt.Errorf("raid10 layout %#x: %w", layout, ErrUnsupportedArray)
		}
		return raid10Enough(present, near, near*far), nil
	}
	return false, fmt.Errorf("level %s: %w", level, ErrUnsupportedArray)
}

// raid10Enough walks the mirror sets as the kernel does: starting at slot
// 0 and stepping by the near-copy count, each run of `copies` consecutive
// slots (wrapping) must hold at least one present member.
func raid10Enough(present []bool, near, copies int) bool {
	n := len(present)
	first := 0
	for {
		cnt := 0
		for k, this := 0, first; k < copies; k, this = k+1, (this+1)%n {
			if present[this] {
				cnt++
			}
		}
		if cnt == 0 {
			return false
		}
		first = (first + near) % n
		if first == 0 {
			return true
		}
	}
}

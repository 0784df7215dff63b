package md

import "strconv"

// Role is one dev_roles entry: a slot number (0..raid_disks-1) for an
// active member, or one of the special values below.
type Role uint16

// Special roles, as the kernel defines them.
const (
	RoleSpare   Role = 0xffff
	RoleFaulty  Role = 0xfffe
	RoleJournal Role = 0xfffd
	// RoleMax: values at or above this are not slots.
	RoleMax Role = 0xff00
)

// IsSlot reports whether r is an active slot number.
func (r Role) IsSlot() bool { return r < RoleMax }

// String returns "spare", "faulty", "journal" or the slot number.
func (r Role) String() string {
	switch r {
	case RoleSpare:
		return "spare"
	case RoleFaulty:
		return "faulty"
	case RoleJournal:
		return "journal"
	}
	if r.IsSlot() {
		return strconv.Itoa(int(r))
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

package disk

import (
	"path"
	"slices"
)

// Role is what the vault uses a disk for.
type Role string

// Roles.
const (
	// RoleData: material for the data array (member, spare, or blank
	// and available).
	RoleData Role = "data"
	// RoleDB: the dedup database SSD.
	RoleDB Role = "db"
	// RoleBoot: the boot medium (removable or USB); never touched.
	RoleBoot Role = "boot"
	// RoleExcluded: left alone by configuration, or read-only.
	RoleExcluded Role = "excluded"
)

// Policy says how disks are assigned roles. Patterns are path.Match
// globs tried against a disk's ID, serial and kernel name.
type Policy struct {
	// Exclude lists disks the vault must never touch.
	Exclude []string
	// DB picks the dedup database SSD; empty means none (the database
	// lives on the data array).
	DB []string
}

// Classified is a disk with its role and why.
type Classified struct {
	Disk
	Role   Role   `json:"role"`
	Reason string `json:"reason"`
}

// Classify assigns every disk a role: excluded by policy or read-only
// first, then the boot medium (removable or USB), then the DB SSD by
// policy, and data for the rest.
func Classify(disks []Disk, p Policy) []Classified {
	out := make([]Classified, 0, len(disks))
	for _, d := range disks {
		c := Classified{Disk: d, Role: RoleData, Reason: "data disk"}
		switch {
		case matches(d, p.Exclude):
			c.Role, c.Reason = RoleExcluded, "excluded by storage.exclude"
		case d.ReadOnly:
			c.Role, c.Reason = RoleExcluded, "read-only device"
		case d.Removable || d.Transport == USB:
			c.Role, c.Reason = RoleBoot, "removable or USB: the boot medium"
		case matches(d, p.DB):
			c.Role, c.Reason = RoleDB, "dedup database disk by storage.db_disk"
		}
		out = append(out, c)
	}
	return out
}

func matches(d Disk, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		for _, s := range []string{d.ID, d.Serial, d.Name, d.WWN} {
			if s == "" {
				continue
			}
			if ok, _ := path.Match(p, s); ok {
				return true
			}
		}
		return false
	})
}

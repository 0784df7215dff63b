package browse

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/tree"
)

// JSONEntry is an Entry as listings print it in JSON (keep-agent ls
// --json, the vault's API).
type JSONEntry struct {
	Snapshot   string    `json:"snapshot,omitempty"`
	Path       string    `json:"path"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Size       uint64    `json:"size"`
	MTime      time.Time `json:"mtime"`
	Mode       string    `json:"mode"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Group      string    `json:"group,omitempty"`
	LinkTarget string    `json:"link_target,omitempty"`
}

// JSON is en as JSONEntry, of snapshot snap (zero: none given).
func (en Entry) JSON(snap fingerprint.ID) JSONEntry {
	j := JSONEntry{Path: en.Path, Name: en.Name, Type: en.Type.String(), Size: en.Size, MTime: en.MTime, Mode: fmt.Sprintf("%04o", en.Mode),
		UID: en.UID, GID: en.GID, User: en.User, Group: en.Group, LinkTarget: en.LinkTarget}
	if !snap.IsZero() {
		j.Snapshot = snap.String()
	}
	return j
}

// Line is en as ls -l prints it, tab-separated: mode, owner, group,
// size, mtime (local), path, and a link's target.
func (en Entry) Line() string {
	owner := en.User
	if owner == "" {
		owner = strconv.Itoa(int(en.UID))
	}
	group := en.Group
	if group == "" {
		group = strconv.Itoa(int(en.GID))
	}
	s := fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s", en.ModeString(), owner, group, en.Size, en.MTime.Local().Format("2006-01-02 15:04"), en.Path)
	switch en.Type {
	case tree.Symlink:
		s += " -> " + en.LinkTarget
	case tree.Hardlink:
		s += " => /" + strings.TrimPrefix(en.LinkTarget, "/")
	}
	return s
}

// ModeString is ls -l's mode column: a type letter (- file, d directory,
// l symlink, h hard link, c/b devices, p FIFO, s socket, i image) and
// the permission bits with set-id and sticky bits.
func (en Entry) ModeString() string {
	typ := map[tree.Type]byte{tree.File: '-', tree.Dir: 'd', tree.Symlink: 'l', tree.Hardlink: 'h', tree.CharDev: 'c',
		tree.BlockDev: 'b', tree.FIFO: 'p', tree.Socket: 's', tree.Image: 'i'}[en.Type]
	if typ == 0 {
		typ = '?'
	}
	b := []byte{typ}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		c := byte('-')
		if en.Mode&(1<<(8-i)) != 0 {
			c = rwx[i]
		}
		b = append(b, c)
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if en.Mode&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(04000, 3, 's', 'S')
	special(02000, 6, 's', 'S')
	special(01000, 9, 't', 'T')
	return string(b)
}

package tree

import (
	"fmt"

	"keep/engine/fingerprint"
)

// Type is what a Node is. The numbers are part of the format.
type Type uint8

// Node types.
const (
	File     Type = 1 // regular file: Content
	Dir      Type = 2 // directory: Subtree
	Symlink  Type = 3 // symbolic link: LinkTarget
	Hardlink Type = 4 // another name of a file met earlier: LinkTarget, Content
	CharDev  Type = 5 // character device: Rdev
	BlockDev Type = 6 // block device: Rdev
	FIFO     Type = 7 // named pipe
	Socket   Type = 8 // Unix socket (recorded; restore skips it)
	// Image is a disk image or block device stored whole (format
	// version 2): Content and Size as a File, Rdev the source's device
	// number when it was a block device (0: a regular file). A restore
	// writes it back to a regular file or into a block device.
	Image Type = 9
)

func (t Type) valid() bool { return File <= t && t <= Image }

// HasContent reports whether nodes of type t carry Content and Size: File,
// Hardlink and Image.
func (t Type) HasContent() bool { return t == File || t == Hardlink || t == Image }

// minVersion is the oldest format version that can encode a node of type
// t.
func (t Type) minVersion() byte {
	if t == Image {
		return 2
	}
	return 1
}

// String returns the type's name.
func (t Type) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Hardlink:
		return "hardlink"
	case CharDev:
		return "chardev"
	case BlockDev:
		return "blockdev"
	case FIFO:
		return "fifo"
	case Socket:
		return "socket"
	case Image:
		return "image"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Node is one entry of a directory.
type Node struct {
	Name  string // one path element: no "/", NUL, "." or ".."
	Type  Type
	Mode  uint32 // permission and special bits (mode & 07777)
	UID   uint32
	GID   uint32
	User  string // owner's name, when known
	Group string
	// Size is the file's length including holes (File, Hardlink, Image); 0
	// for other types.
	Size uint64
	// Times in ns since the Unix epoch. CTime is recorded for change
	// detection; no restore can set it. A symlink's ATime is its MTime
	// (reading the link updates its atime).
	MTime, CTime, ATime int64
	// Inode and Device identify the file on its filesystem (change
	// detection, hard links); Links is its link count.
	Inode, Device, Links uint64
	// LinkTarget: a Symlink's target as read; a Hardlink's is the path,
	// relative to the snapshot's root and slash-separated, of the File
	// node it is another name of.
	LinkTarget string
	// Rdev is a device node's device number, or an Image's source
	// device (0: it was a regular file or a stream).
	Rdev uint64
	// Xattrs are the extended attributes, sorted by name (POSIX ACLs
	// are the system.posix_acl_* attributes).
	Xattrs []Xattr
	// Content is a file's data in order: chunks and holes, adding up to
	// Size.
	Content []Extent
	// ContentBlobs, in an encoded tree only, lists the extent blobs that
	// hold a long Content; Load resolves them into Content.
	ContentBlobs []fingerprint.ID
	// Subtree is a directory's tree ID.
	Subtree fingerprint.ID
}

// Xattr is an extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Extent is a piece of a file: a chunk (its ID and plaintext length) or a
// hole of Length zero bytes that is not stored (ID zero).
type Extent struct {
	ID     fingerprint.ID
	Length uint64
	Hole   bool
}

// Limits the format enforces (decoding checks them before allocating).
const (
	MaxName        = 255       // bytes of a Name, User or Group
	MaxLinkTarget  = 64 << 10  // bytes of a LinkTarget
	MaxXattrName   = 255       // bytes of an xattr name
	MaxXattrValue  = 64 << 10  // bytes of an xattr value
	MaxXattrs      = 1024      // xattrs per node
	MaxChunkLength = 256 << 20 // plaintext length of a chunk extent
)

// validate checks n against the format's rules; Encode and Decode both
// apply it, so whatever encodes also decodes.
func (n *Node) validate() error {
	if err := validName(n.Name); err != nil {
		return err
	}
	if !n.Type.valid() {
		return fmt.Errorf("%q: invalid %v", n.Name, n.Type)
	}
	if n.Mode&^0o7777 != 0 {
		return fmt.Errorf("%q: mode %o has bits outside 07777", n.Name, n.Mode)
	}
	if len(n.User) > MaxName || len(n.Group) > MaxName {
		return fmt.Errorf("%q: owner name too long", n.Name)
	}
	if len(n.LinkTarget) > MaxLinkTarget {
		return fmt.Errorf("%q: link target of %d bytes", n.Name, len(n.LinkTarget))
	}
	if len(n.Xattrs) > MaxXattrs {
		return fmt.Errorf("%q: %d xattrs", n.Name, len(n.Xattrs))
	}
	for i, x := range n.Xattrs {
		if x.Name == "" || len(x.Name) > MaxXattrName || len(x.Value) > MaxXattrValue {
			return fmt.Errorf("%q: invalid xattr %q", n.Name, x.Name)
		}
		if i > 0 && n.Xattrs[i-1].Name >= x.Name {
			return fmt.Errorf("%q: xattrs not sorted and unique at %q", n.Name, x.Name)
		}
	}
	hasData := n.Type.HasContent()
	linked := n.Type == Symlink || n.Type == Hardlink
	dev := n.Type == CharDev || n.Type == BlockDev || n.Type == Image
	switch {
	case linked != (n.LinkTarget != ""):
		return fmt.Errorf("%q: %v with link target %q", n.Name, n.Type, n.LinkTarget)
	case !dev && n.Rdev != 0:
		return fmt.Errorf("%q: %v with a device number", n.Name, n.Type)
	case (n.Type == Dir) == n.Subtree.IsZero():
		return fmt.Errorf("%q: %v with subtree %v", n.Name, n.Type, n.Subtree.Short())
	case !hasData && (n.Size != 0 || len(n.Content) != 0 || len(n.ContentBlobs) != 0):
		return fmt.Errorf("%q: %v with content", n.Name, n.Type)
	case len(n.Content) != 0 && len(n.ContentBlobs) != 0:
		return fmt.Errorf("%q: both inline content and content blobs", n.Name)
	}
	for _, id := range n.ContentBlobs {
		if id.IsZero() {
			return fmt.Errorf("%q: zero content blob ID", n.Name)
		}
	}
	if len(n.ContentBlobs) == 0 {
		sum, err := ExtentsSize(n.Content)
		if err != nil {
			return fmt.Errorf("%q: %w", n.Name, err)
		}
		if sum != n.Size {
			return fmt.Errorf("%q: content adds up to %d bytes, size is %d", n.Name, sum, n.Size)
		}
	}
	return nil
}

// ExtentsSize checks a content list (chunks of 1 to MaxChunkLength bytes
// with non-zero IDs, holes of at least one byte, never two holes in a
// row) and returns its total length.
func ExtentsSize(es []Extent) (uint64, error) {
	var sum uint64
	for i, e := range es {
		switch {
		case e.Length == 0:
			return 0, fmt.Errorf("extent %d is empty", i)
		case e.Hole && !e.ID.IsZero():
			return 0, fmt.Errorf("extent %d: hole with an ID", i)
		case e.Hole && i > 0 && es[i-1].Hole:
			return 0, fmt.Errorf("extent %d: two holes in a row", i)
		case !e.Hole && (e.ID.IsZero() || e.Length > MaxChunkLength):
			return 0, fmt.Errorf("extent %d: invalid chunk", i)
		}
		if sum+e.Length < sum {
			return 0, fmt.Errorf("extent %d: size overflows", i)
		}
		sum += e.Length
	}
	return sum, nil
}

func validName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > MaxName {
		return fmt.Errorf("invalid name %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return fmt.Errorf("invalid name %q", s)
		}
	}
	return nil
}

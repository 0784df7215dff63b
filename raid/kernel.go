package raid

import (
	"fmt"
	"io"
)

// MemberDevice is an open member disk: superblocks and bitmaps are written
// with WriteAt at fixed offsets, read back with ReadAt, and made durable
// with Sync. *os.File satisfies it. WriteAt and Sync fail with the
// device's I/O error; a failed write may have written part of the buffer.
type MemberDevice interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// MemberOpener opens member devices by path (/dev/sdb, or a file in
// tests); the caller closes what it opened. OpenMember fails with the os
// error (ENOENT, EACCES, EBUSY when a block device is in use).
type MemberOpener interface {
	OpenMember(path string) (MemberDevice, io.Closer, error)
	// ReadMember opens a device read-only and not exclusively: for
	// reading the superblock of a disk that may be in use.
	ReadMember(path string) (io.ReaderAt, io.Closer, error)
}

// DevNum is a block device number, written to sysfs as "major:minor".
type DevNum struct{ Major, Minor uint32 }

func (d DevNum) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// Kernel is the md sysfs interface the assembler drives. The kernel never
// writes v1.x superblocks itself: members must carry ours before AddDevice
// (notes/qemu.md §3). Every method fails with the kernel's errno wrapped
// with the attribute path: EINVAL for a member without a valid superblock
// or an array in the wrong state, EEXIST for a name in use, ENOENT when
// md_mod is not loaded.
type Kernel interface {
	// NewArray creates an empty array device (e.g. "md127").
	NewArray(array string) error
	// SetMetadataVersion sets the superblock format ("1.2").
	SetMetadataVersion(array, version string) error
	// AddDevice imports a member; the kernel reads its superblock.
	AddDevice(array string, dev DevNum) error
	// SetArrayState starts ("active", "readonly", "read-auto") or stops
	// ("inactive", "clear") the array.
	SetArrayState(array, state string) error
}

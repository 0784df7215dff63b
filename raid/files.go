package raid

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Files is the MemberOpener over the filesystem: read-write, and exclusive
// for block devices (O_EXCL: the kernel refuses with EBUSY while the disk
// is mounted or in an array, so Keep never writes a member in use).
type Files struct{}

var _ MemberOpener = Files{}

// OpenMember opens path for reading and writing.
func (Files) OpenMember(path string) (MemberDevice, io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open member: %w", err)
	}
	return f, f, nil
}

// ReadMember opens path read-only and shared, so the superblock of a
// member of a running array can be read. md writes superblocks with bios
// straight to the member, past the block device's page cache, so the
// cache is dropped first: a read must see what the kernel last wrote.
func (Files) ReadMember(path string) (io.ReaderAt, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open member: %w", err)
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	return f, f, nil
}

package raid

import (
	"fmt"
	"io"
	"os"
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

package smart

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nvmePassthruCmd is struct nvme_passthru_cmd (linux/nvme_ioctl.h), 72
// bytes; addr is a user pointer carried as __u64.
type nvmePassthruCmd struct {
	opcode      uint8
	flags       uint8
	rsvd1       uint16
	nsid        uint32
	cdw2        uint32
	cdw3        uint32
	metadata    uint64
	addr        uint64
	metadataLen uint32
	dataLen     uint32
	cdw10       uint32
	cdw11       uint32
	cdw12       uint32
	cdw13       uint32
	cdw14       uint32
	cdw15       uint32
	timeoutMs   uint32
	result      uint32
}

// nvmeIoctlAdminCmd is _IOWR('N', 0x41, struct nvme_admin_cmd):
// 0xc0484e41 on every Linux architecture (the struct has no pointers).
const nvmeIoctlAdminCmd = (iocRead|iocWrite)<<30 | uintptr(unsafe.Sizeof(nvmePassthruCmd{}))<<16 | 'N'<<8 | 0x41

const (
	iocWrite = 1
	iocRead  = 2
)

// LinuxNVMe is an NVMeDevice over NVME_IOCTL_ADMIN_CMD, on the
// controller character device (/dev/nvme0) or a namespace block device
// (/dev/nvme0n1: the kernel routes admin commands to its controller). It
// needs CAP_SYS_ADMIN (root on the appliance).
type LinuxNVMe struct {
	f *os.File
	// Timeout per command; zero means DefaultTimeout. An earlier context
	// deadline wins.
	Timeout time.Duration
}

var _ NVMeDevice = (*LinuxNVMe)(nil)

// OpenNVMe opens path read-only (no exclusive claim).
func OpenNVMe(path string) (*LinuxNVMe, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("smart: open %s: %w", path, err)
	}
	return &LinuxNVMe{f: f}, nil
}

// Close releases the device.
func (d *LinuxNVMe) Close() error { return d.f.Close() }

// AdminCommand issues cmd. A positive ioctl return is the NVMe status
// (*NVMeStatusError); a negative one the errno.
func (d *LinuxNVMe) AdminCommand(ctx context.Context, cmd NVMeAdminCmd, buf []byte) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// The kernel sees addr as a plain integer, so the data lives in a
	// buffer of our own, kept alive across the call and copied out.
	var data []byte
	c := nvmePassthruCmd{
		opcode:    cmd.Opcode,
		nsid:      cmd.NSID,
		cdw10:     cmd.CDW10,
		cdw11:     cmd.CDW11,
		cdw12:     cmd.CDW12,
		cdw13:     cmd.CDW13,
		cdw14:     cmd.CDW14,
		cdw15:     cmd.CDW15,
		timeoutMs: uint32(commandTimeout(ctx, d.Timeout) / time.Millisecond),
	}
	if len(buf) > 0 {
		data = make([]byte, len(buf))
		c.addr = uint64(uintptr(unsafe.Pointer(&data[0])))
		c.dataLen = uint32(len(data))
	}
	r, err := ioctlRet(d.f, nvmeIoctlAdminCmd, unsafe.Pointer(&c))
	runtime.KeepAlive(data)
	if err != nil {
		return 0, fmt.Errorf("smart: NVME_IOCTL_ADMIN_CMD opcode %#02x on %s: %w", cmd.Opcode, d.f.Name(), err)
	}
	if r != 0 {
		return 0, fmt.Errorf("smart: %s: %w", d.f.Name(), &NVMeStatusError{Opcode: cmd.Opcode, Status: uint16(r)})
	}
	copy(buf, data)
	return c.result, nil
}

package smart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sgIOHdr is struct sg_io_hdr (scsi/sg.h): 88 bytes on amd64, pointers
// as unsafe.Pointer so the layout follows the word size.
type sgIOHdr struct {
	interfaceID    int32
	dxferDirection int32
	cmdLen         uint8
	mxSbLen        uint8
	iovecCount     uint16
	dxferLen       uint32
	dxferp         unsafe.Pointer
	cmdp           unsafe.Pointer
	sbp            unsafe.Pointer
	timeout        uint32 // ms
	flags          uint32
	packID         int32
	usrPtr         unsafe.Pointer
	status         uint8
	maskedStatus   uint8
	msgStatus      uint8
	sbLenWr        uint8
	hostStatus     uint16
	driverStatus   uint16
	resid          int32
	duration       uint32
	info           uint32
}

const (
	sgIO          = 0x2285
	sgDxferNone   = -1
	sgDxferFromDv = -3
	senseBufLen   = 64
)

// DefaultTimeout bounds one SMART command when the context has no
// earlier deadline.
const DefaultTimeout = 10 * time.Second

// LinuxATA is an ATADevice over the SG_IO ioctl on a SCSI disk node
// (/dev/sdX): libata (or a SAT bridge) translates ATA PASS-THROUGH(16)
// into the ATA command. It needs CAP_SYS_RAWIO (root on the appliance).
type LinuxATA struct {
	f *os.File
	// Timeout per command; zero means DefaultTimeout. An earlier context
	// deadline wins.
	Timeout time.Duration
}

var _ ATADevice = (*LinuxATA)(nil)

// OpenATA opens path read-only and non-blocking (no exclusive claim: the
// disk may be an active md member).
func OpenATA(path string) (*LinuxATA, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("smart: open %s: %w", path, err)
	}
	return &LinuxATA{f: f}, nil
}

// Close releases the device.
func (d *LinuxATA) Close() error { return d.f.Close() }

// ATACommand issues cmd with SG_IO. ENOTTY/EINVAL from the ioctl (a node
// without SCSI generic support, such as virtio-blk) wrap ErrNoSMART.
func (d *LinuxATA) ATACommand(ctx context.Context, cmd ATACmd, buf []byte) (*ATARegs, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(buf)%ataSectorSize != 0 {
		return nil, fmt.Errorf("smart: ATA data-in buffer of %d bytes is not whole sectors: %w", len(buf), ErrMalformed)
	}
	cdb := passThrough16(cmd, len(buf) > 0)
	sense := make([]byte, senseBufLen)
	hdr := sgIOHdr{
		interfaceID:    'S',
		dxferDirection: sgDxferNone,
		cmdLen:         uint8(len(cdb)),
		mxSbLen:        uint8(len(sense)),
		cmdp:           unsafe.Pointer(&cdb[0]),
		sbp:            unsafe.Pointer(&sense[0]),
		timeout:        uint32(commandTimeout(ctx, d.Timeout) / time.Millisecond),
	}
	if len(buf) > 0 {
		hdr.dxferDirection = sgDxferFromDv
		hdr.dxferLen = uint32(len(buf))
		hdr.dxferp = unsafe.Pointer(&buf[0])
	}
	err := ioctl(d.f, sgIO, unsafe.Pointer(&hdr))
	runtime.KeepAlive(buf)
	runtime.KeepAlive(&cdb)
	runtime.KeepAlive(sense)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("smart: SG_IO on %s: %w (%w)", d.f.Name(), ErrNoSMART, err)
		}
		return nil, fmt.Errorf("smart: SG_IO on %s: %w", d.f.Name(), err)
	}
	n := int(hdr.sbLenWr)
	if n > len(sense) {
		n = len(sense)
	}
	out := sgOutcome{
		status:       hdr.status,
		hostStatus:   hdr.hostStatus,
		driverStatus: hdr.driverStatus,
		sense:        sense[:n],
		resid:        hdr.resid,
		dxferLen:     len(buf),
	}
	regs, err := out.interpret(cmd)
	if err != nil {
		return nil, fmt.Errorf("smart: %s: ATA command %#02x: %w", d.f.Name(), cmd.Command, err)
	}
	return regs, nil
}

// commandTimeout is the per-command timeout: def (or DefaultTimeout),
// shortened to the context deadline, at least 1 ms.
func commandTimeout(ctx context.Context, def time.Duration) time.Duration {
	if def <= 0 {
		def = DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < def {
			def = left
		}
	}
	if def < time.Millisecond {
		def = time.Millisecond
	}
	return def
}

// ioctlRet runs one ioctl on f (retrying EINTR) and returns its raw
// return value: NVME_IOCTL_ADMIN_CMD answers the NVMe status there.
func ioctlRet(f *os.File, req uintptr, arg unsafe.Pointer) (uintptr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var r1 uintptr
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		for {
			r1, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
			if errno != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return r1, nil
}

// ioctl runs one ioctl on f.
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	_, err := ioctlRet(f, req, arg)
	return err
}

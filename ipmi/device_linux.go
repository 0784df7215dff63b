package ipmi

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI (include/uapi/linux/ipmi.h). C long is Go int on Linux, and
// pointers are unsafe.Pointer, so the layouts hold on 32- and 64-bit; the
// ioctl numbers are computed from the struct sizes (amd64: send
// 0x8028690d, receive 0xc030690b).

// ipmiSystemInterfaceAddr is struct ipmi_system_interface_addr.
type ipmiSystemInterfaceAddr struct {
	addrType int32
	channel  int16
	lun      uint8
	_        uint8
}

// ipmiMsg is struct ipmi_msg.
type ipmiMsg struct {
	netfn   uint8
	cmd     uint8
	dataLen uint16
	data    unsafe.Pointer
}

// ipmiReq is struct ipmi_req.
type ipmiReq struct {
	addr    unsafe.Pointer
	addrLen uint32
	msgid   int
	msg     ipmiMsg
}

// ipmiRecv is struct ipmi_recv.
type ipmiRecv struct {
	recvType int32
	addr     unsafe.Pointer
	addrLen  uint32
	msgid    int
	msg      ipmiMsg
}

const (
	ipmiSystemInterfaceAddrType = 0x0c
	ipmiBMCChannel              = 0x0f
	ipmiMaxAddrSize             = 32
	iocWrite                    = 1
	iocRead                     = 2
)

// _IOR('i', 13, struct ipmi_req) and _IOWR('i', 11, struct ipmi_recv).
const (
	ipmictlSendCommand     = iocRead<<30 | unsafe.Sizeof(ipmiReq{})<<16 | 'i'<<8 | 13
	ipmictlReceiveMsgTrunc = (iocRead|iocWrite)<<30 | unsafe.Sizeof(ipmiRecv{})<<16 | 'i'<<8 | 11
)

// linuxDevice is the real /dev/ipmiN.
type linuxDevice struct {
	f *os.File
}

func openLinux(path string) (device, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if isNoDevice(err) {
			return nil, fmt.Errorf("open %s: %w (%w)", path, ErrNoBMC, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &linuxDevice{f: f}, nil
}

// isNoDevice reports whether err says the BMC is absent.
func isNoDevice(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

func (d *linuxDevice) ioctl(req uintptr, arg unsafe.Pointer) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func (d *linuxDevice) send(msgid int64, netfn NetFn, cmd byte, data []byte) error {
	addr := ipmiSystemInterfaceAddr{addrType: ipmiSystemInterfaceAddrType, channel: ipmiBMCChannel}
	req := ipmiReq{
		addr:    unsafe.Pointer(&addr),
		addrLen: uint32(unsafe.Sizeof(addr)),
		msgid:   int(msgid),
		msg:     ipmiMsg{netfn: uint8(netfn), cmd: cmd, dataLen: uint16(len(data))},
	}
	if len(data) > 0 {
		req.msg.data = unsafe.Pointer(&data[0])
	}
	return d.ioctl(ipmictlSendCommand, unsafe.Pointer(&req))
}

func (d *linuxDevice) wait(timeout time.Duration) (bool, error) {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return false, err
	}
	ms := int(timeout / time.Millisecond)
	if ms <= 0 {
		ms = 1
	}
	var n int
	var perr error
	if err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, perr = unix.Poll(fds, ms)
			if perr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if perr != nil {
		return false, perr
	}
	return n > 0, nil
}

func (d *linuxDevice) receive(buf []byte) (message, error) {
	var addr [ipmiMaxAddrSize]byte
	r := ipmiRecv{
		addr:    unsafe.Pointer(&addr[0]),
		addrLen: uint32(len(addr)),
		msg:     ipmiMsg{dataLen: uint16(len(buf))},
	}
	if len(buf) > 0 {
		r.msg.data = unsafe.Pointer(&buf[0])
	}
	err := d.ioctl(ipmictlReceiveMsgTrunc, unsafe.Pointer(&r))
	if err != nil && !errors.Is(err, unix.EMSGSIZE) { // EMSGSIZE: truncated, data valid
		return message{}, err
	}
	n := int(r.msg.dataLen)
	if n > len(buf) {
		n = len(buf)
	}
	return message{
		recvType: r.recvType,
		msgid:    int64(r.msgid),
		netfn:    NetFn(r.msg.netfn),
		cmd:      r.msg.cmd,
		data:     buf[:n],
	}, nil
}

func (d *linuxDevice) close() error { return d.f.Close() }

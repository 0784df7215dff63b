package xfrm

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// socketPolicy is an empty-selector allow policy without templates: as a
// socket policy it exempts the socket's traffic from the SPD.
func socketPolicy(family int, dir Dir) []byte {
	p := nl.XfrmUserpolicyInfo{}
	p.Sel.Family = uint16(family)
	p.Dir = uint8(dir)
	p.Action = uint8(ActionAllow)
	p.Lft.SoftByteLimit = nl.XFRM_INF
	p.Lft.HardByteLimit = nl.XFRM_INF
	p.Lft.SoftPacketLimit = nl.XFRM_INF
	p.Lft.HardPacketLimit = nl.XFRM_INF
	return append([]byte(nil), p.Serialize()...)
}

// control runs f on the socket's descriptor.
func control(c syscall.Conn, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// BypassSocket sets inbound and outbound bypass socket policies on c (a
// UDP socket, IPv4 or IPv6), so IKE traffic is never caught by tunnel or
// block policies. On an IPv6 socket the policy is IPV6_XFRM_POLICY; its
// empty selector also matches the socket's v4-mapped traffic. The kernel
// shows these as `socket in`/`socket out` policies in `ip xfrm policy`.
func BypassSocket(c syscall.Conn) error {
	return control(c, func(fd int) error {
		domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err != nil {
			return fmt.Errorf("xfrm: bypass socket: SO_DOMAIN: %w", err)
		}
		level, opt := unix.IPPROTO_IP, unix.IP_XFRM_POLICY
		switch domain {
		case unix.AF_INET:
		case unix.AF_INET6:
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_XFRM_POLICY
		default:
			return fmt.Errorf("%w: bypass socket: address family %d", ErrInvalid, domain)
		}
		for _, dir := range []Dir{DirIn, DirOut} {
			if err := unix.SetsockoptString(fd, level, opt, string(socketPolicy(domain, dir))); err != nil {
				return fmt.Errorf("xfrm: bypass socket (dir %s): %w", dir, mapErrno(err))
			}
		}
		return nil
	})
}

// EnableUDPEncap sets UDP_ENCAP_ESPINUDP on a UDP socket: the kernel then
// takes datagrams without the 4-byte non-ESP marker as ESP (RFC 3948) and
// hands the ones with the marker (IKE) to the socket.
func EnableUDPEncap(c syscall.Conn) error {
	return control(c, func(fd int) error {
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return fmt.Errorf("xfrm: udp encap: SO_TYPE: %w", err)
		}
		if typ != unix.SOCK_DGRAM {
			return fmt.Errorf("%w: udp encap on a non-UDP socket", ErrInvalid)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
			if errors.Is(err, unix.ENOPROTOOPT) {
				return fmt.Errorf("%w: udp encap: %w", ErrNoESP, err)
			}
			return fmt.Errorf("xfrm: udp encap: %w", err)
		}
		return nil
	})
}

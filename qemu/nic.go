package qemu

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// NICKind is the host side of a network card.
type NICKind string

// NIC kinds. The zero value means NICUser.
const (
	// NICUser is QEMU's user-mode network (slirp): guest 10.0.2.15/24,
	// gateway 10.0.2.2, host ports forwarded with Forwards. No privileges.
	NICUser NICKind = "user"
	// NICSocket is an L2 link over TCP between two VMs (-netdev socket): one
	// side Listens on "host:port", the other Connects to it. The listener must
	// be started first. ~235 Mbit/s with virtio-net under TCG.
	NICSocket NICKind = "socket"
	// NICStream is an L2 link over a stream socket (-netdev stream, QEMU ≥
	// 7.2): Listen/Connect take a unix socket path (anything containing a
	// slash) or "host:port". The listener must be started first.
	NICStream NICKind = "stream"
)

// NIC is one network card.
type NIC struct {
	// ID names the NIC: 1–16 characters of [A-Za-z0-9_-]. The guest device is
	// "nic-<ID>" and its netdev "net-<ID>" (see NICDeviceID).
	ID string
	// Kind selects the host side (default NICUser).
	Kind NICKind
	// MAC is the guest's address (default: a stable 52:54:00:xx:xx:xx derived
	// from Dir and ID, so VMs on one link never collide).
	MAC string
	// Model is the device (default virtio-net-pci); it gets romfile= so no
	// option ROM is loaded.
	Model string
	// Forwards are host-to-guest port forwards; NICUser only.
	Forwards []Forward
	// Listen is the address a NICSocket or NICStream waits on. A TCP port of
	// 0 is replaced by a free port at Start (see VM.ListenAddr).
	Listen string
	// Connect is the address a NICSocket or NICStream connects to.
	Connect string
}

// Forward forwards a host port to a guest port on a NICUser.
type Forward struct {
	Proto     string // "tcp" (default) or "udp"
	HostAddr  string // default 127.0.0.1
	HostPort  int    // 0: Start picks a free port (see VM.HostPort)
	GuestPort int
}

// NICDeviceID returns the QEMU device id of the NIC with the given ID; QMP
// set_link takes it.
func NICDeviceID(id string) string { return "nic-" + id }

// netdevID is the id of the NIC's backend.
func netdevID(id string) string { return "net-" + id }

// isUnixAddr reports whether a stream address is a unix socket path.
func isUnixAddr(addr string) bool { return strings.Contains(addr, "/") }

// splitHostPort parses "host:port" with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, port, nil
}

// linkAddr returns the NIC's Listen or Connect address and whether it listens.
func (n NIC) linkAddr() (string, bool) {
	if n.Listen != "" {
		return n.Listen, true
	}
	return n.Connect, false
}

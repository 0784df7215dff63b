package qemu

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// allocatePorts replaces every port 0 — in user-NIC forwards and in socket or
// stream listeners — with a port that is free on the same host address right
// now, and reports whether it replaced any. All probe sockets stay open until
// every port is picked, so no two get the same one. QEMU binds them moments
// later; a port taken in between makes QEMU fail at startup, which Start
// detects and retries. m must be a deep copy owned by the caller.
func allocatePorts(m *Machine) (bool, error) {
	var probes []io.Closer
	defer func() {
		for _, p := range probes {
			p.Close()
		}
	}()
	pick := func(network, host string) (int, error) {
		addr := net.JoinHostPort(host, "0")
		if network == "udp" {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return 0, fmt.Errorf("pick a free udp port on %s: %w", host, err)
			}
			probes = append(probes, pc)
			return pc.LocalAddr().(*net.UDPAddr).Port, nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return 0, fmt.Errorf("pick a free tcp port on %s: %w", host, err)
		}
		probes = append(probes, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}

	changed := false
	for i := range m.NICs {
		n := &m.NICs[i]
		for j := range n.Forwards {
			f := &n.Forwards[j]
			if f.HostPort != 0 {
				continue
			}
			p, err := pick(f.Proto, f.HostAddr)
			if err != nil {
				return false, fmt.Errorf("NIC %s forward to guest %d: %w", n.ID, f.GuestPort, err)
			}
			f.HostPort, changed = p, true
		}
		if n.Listen == "" || n.Kind == NICUser || (n.Kind == NICStream && isUnixAddr(n.Listen)) {
			continue
		}
		host, port, err := splitHostPort(n.Listen)
		if err != nil {
			return false, fmt.Errorf("NIC %s: %w", n.ID, err)
		}
		if port != 0 {
			continue
		}
		p, err := pick("tcp", host)
		if err != nil {
			return false, fmt.Errorf("NIC %s listen: %w", n.ID, err)
		}
		n.Listen, changed = net.JoinHostPort(host, strconv.Itoa(p)), true
	}
	return changed, nil
}

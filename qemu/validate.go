package qemu

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// ErrInvalid is wrapped by every error about a Machine description itself.
var ErrInvalid = errors.New("invalid machine")

// idPattern is what disk and NIC IDs may look like: safe inside QEMU ids and
// block node names (which must start with a letter, hence the fixed prefixes).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$`)

// maxUnixPath is the longest socket path sockaddr_un holds (108 bytes with the NUL).
const maxUnixPath = 107

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// validate checks a Machine that has its defaults applied.
func (m Machine) validate() error {
	if m.Kernel == "" {
		return invalid("Kernel is required")
	}
	if m.Dir == "" {
		return invalid("Dir is required")
	}
	if strings.Contains(m.Dir, ",") {
		return invalid("Dir %q contains a comma", m.Dir)
	}
	if n := len(m.QMPSocket()); n > maxUnixPath {
		return invalid("QMP socket path %s is %d bytes, the limit is %d: use a shorter Dir", m.QMPSocket(), n, maxUnixPath)
	}
	if m.MemoryMB < 0 || m.CPUs < 0 {
		return invalid("MemoryMB %d and CPUs %d must be positive", m.MemoryMB, m.CPUs)
	}
	if err := validateDisks(m.Disks); err != nil {
		return err
	}
	return validateNICs(m.NICs)
}

func validateDisks(disks []Disk) error {
	seen := map[string]bool{}
	sata := 0
	for _, d := range disks {
		if !idPattern.MatchString(d.ID) {
			return invalid("disk ID %q: want 1-16 of [A-Za-z0-9_-]", d.ID)
		}
		if seen[d.ID] {
			return invalid("disk ID %q used twice", d.ID)
		}
		seen[d.ID] = true
		switch d.Kind {
		case DiskVirtio, DiskNVMe:
		case DiskSATA:
			sata++
			if sata > maxSATAPorts {
				return invalid("disk %s: q35's AHCI has only %d ports", d.ID, maxSATAPorts)
			}
			if d.Hotpluggable {
				return invalid("disk %s: SATA disks cannot be hot-unplugged; use FaultInjection", d.ID)
			}
		default:
			return invalid("disk %s: unknown kind %q", d.ID, d.Kind)
		}
		if d.Model != "" && d.Kind != DiskSATA {
			return invalid("disk %s: Model is only supported on SATA", d.ID)
		}
		if len(d.Serial) > 20 || len(d.Model) > 40 {
			return invalid("disk %s: serial is at most 20 bytes and model 40", d.ID)
		}
		if d.SizeBytes < 0 {
			return invalid("disk %s: negative size", d.ID)
		}
	}
	return nil
}

func validateNICs(nics []NIC) error {
	seen := map[string]bool{}
	for _, n := range nics {
		if !idPattern.MatchString(n.ID) {
			return invalid("NIC ID %q: want 1-16 of [A-Za-z0-9_-]", n.ID)
		}
		if seen[n.ID] {
			return invalid("NIC ID %q used twice", n.ID)
		}
		seen[n.ID] = true
		if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 {
			return invalid("NIC %s: bad MAC %q", n.ID, n.MAC)
		}
		if err := validateNICKind(n); err != nil {
			return err
		}
	}
	return nil
}

func validateNICKind(n NIC) error {
	switch n.Kind {
	case NICUser:
		if n.Listen != "" || n.Connect != "" {
			return invalid("NIC %s: a user NIC takes no Listen or Connect", n.ID)
		}
		for _, f := range n.Forwards {
			if err := validateForward(f); err != nil {
				return invalid("NIC %s: %v", n.ID, err)
			}
		}
		return nil
	case NICSocket, NICStream:
		if len(n.Forwards) > 0 {
			return invalid("NIC %s: Forwards need a user NIC", n.ID)
		}
		if (n.Listen == "") == (n.Connect == "") {
			return invalid("NIC %s: set exactly one of Listen and Connect", n.ID)
		}
		addr, listen := n.linkAddr()
		if n.Kind == NICStream && isUnixAddr(addr) {
			if len(addr) > maxUnixPath || strings.Contains(addr, ",") {
				return invalid("NIC %s: unix socket path %q too long or has a comma", n.ID, addr)
			}
			return nil
		}
		_, port, err := splitHostPort(addr)
		if err != nil {
			return invalid("NIC %s: %v", n.ID, err)
		}
		if port == 0 && !listen {
			return invalid("NIC %s: cannot connect to port 0", n.ID)
		}
		return nil
	default:
		return invalid("NIC %s: unknown kind %q", n.ID, n.Kind)
	}
}

func validateForward(f Forward) error {
	if f.Proto != "tcp" && f.Proto != "udp" {
		return fmt.Errorf("forward proto %q: want tcp or udp", f.Proto)
	}
	if _, err := netip.ParseAddr(f.HostAddr); err != nil {
		return fmt.Errorf("forward host address: %w", err)
	}
	if f.HostPort < 0 || f.HostPort > 65535 || f.GuestPort < 1 || f.GuestPort > 65535 {
		return fmt.Errorf("forward %d->%d: port out of range", f.HostPort, f.GuestPort)
	}
	return nil
}

package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// FixedAppend opens every kernel command line: the serial console, a QEMU exit
// (not a hang) on panic with -no-reboot, and no crypto self-tests (they cost
// seconds under TCG).
const FixedAppend = "console=ttyS0 panic=-1 cryptomgr.notests=1"

// ErrPortUnallocated is returned by Args for a forward or listener on port 0:
// Start picks those ports; Args needs concrete ones.
var ErrPortUnallocated = fmt.Errorf("%w: port 0 is picked by Start, Args needs a concrete port", ErrInvalid)

// Args returns QEMU's argument list (without the binary) for the machine. It is
// a pure function of the description: Start allocates ports and fills in
// defaults first, so VM.Args shows the exact command that ran.
func (m Machine) Args() ([]string, error) {
	m = m.withDefaults()
	if err := m.validate(); err != nil {
		return nil, err
	}
	if m.BMC.Enabled && m.BMC.Extern {
		if m.BMC.FRUFile != "" || m.BMC.SDRFile != "" {
			return nil, invalid("BMC: FRUFile and SDRFile are ipmi-bmc-sim's; an external BMC has its own")
		}
		if m.BMC.ExternPort <= 0 || m.BMC.ExternPort > 65535 {
			return nil, invalid("BMC: ExternPort %d: an external BMC needs its simulator's TCP port", m.BMC.ExternPort)
		}
	}
	a := []string{
		"-machine", "q35",
		"-cpu", "max",
		"-smp", strconv.Itoa(m.CPUs),
		"-m", strconv.Itoa(m.MemoryMB),
		"-display", "none",
	}
	if !m.Reboot {
		a = append(a, "-no-reboot")
	}
	a = append(a,
		"-nodefaults",
		"-monitor", "none",
		"-serial", "file:"+m.ConsoleLog(),
		"-qmp", "unix:"+m.QMPSocket()+",server=on,wait=off",
		// Native PCIe hotplug: with q35's default ACPI hotplug the guest never
		// ejects a device behind a root port.
		"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
		"-kernel", m.Kernel,
	)
	if m.Initrd != "" {
		a = append(a, "-initrd", m.Initrd)
	}
	a = append(a, "-append", strings.Join(append([]string{FixedAppend}, m.Append...), " "))
	a = append(a, diskArgs(m)...)
	nics, err := nicArgs(m.NICs)
	if err != nil {
		return nil, err
	}
	a = append(a, nics...)
	a = append(a, bmcArgs(m.BMC)...)
	return append(a, m.Extra...), nil
}

// diskArgs attaches every disk: a file node, an optional blkdebug node, a raw
// node, and the device (behind its own root port for PCI kinds).
func diskArgs(m Machine) []string {
	var a []string
	slot, port := 0, 0
	for _, d := range m.Disks {
		base := fileNode(d.ID)
		a = append(a, "-blockdev", opts("driver", "file", "filename", d.Path, "node-name", base))
		if d.FaultInjection {
			a = append(a, "-blockdev", opts("driver", "blkdebug", "image", base,
				"config", blkdebugConfigPath(m.Dir, d.ID), "node-name", debugNode(d.ID)))
			base = debugNode(d.ID)
		}
		a = append(a, "-blockdev", opts("driver", "raw", "file", base, "node-name", rawNode(d.ID)))
		if d.isPCI() {
			slot++
			rp := []string{"id", rootPortID(d.ID), "bus", "pcie.0", "chassis", "1", "slot", strconv.Itoa(slot)}
			if !d.Hotpluggable {
				rp = append(rp, "hotplug", "off")
			}
			a = append(a, "-device", device("pcie-root-port", rp...))
		} else {
			port++
		}
		driver, props := diskDevice(d, port-1)
		a = append(a, "-device", device(driver, props...))
	}
	for i := range m.EmptySlots {
		slot++
		a = append(a, "-device", device("pcie-root-port", "id", emptySlotID(i), "bus", "pcie.0", "chassis", "1", "slot", strconv.Itoa(slot)))
	}
	return a
}

// emptySlotID is the id of the i-th empty hot-pluggable root port.
func emptySlotID(i int) string { return "rp-empty" + strconv.Itoa(i) }

// diskDevice is the disk's device driver and properties; sataPort is its AHCI port.
func diskDevice(d Disk, sataPort int) (driver string, props []string) {
	switch d.Kind {
	case DiskNVMe:
		driver, props = "nvme", []string{"bus", rootPortID(d.ID)}
	case DiskSATA:
		driver, props = "ide-hd", []string{"bus", "ide." + strconv.Itoa(sataPort)}
	default:
		driver, props = "virtio-blk-pci", []string{"bus", rootPortID(d.ID)}
	}
	props = append(props, "id", DiskDeviceID(d.ID), "drive", rawNode(d.ID), "serial", d.Serial)
	if d.Model != "" {
		props = append(props, "model", d.Model)
	}
	return driver, props
}

// nicArgs attaches every NIC: its netdev, then its device.
func nicArgs(nics []NIC) ([]string, error) {
	var a []string
	for _, n := range nics {
		nd := []string{"id", netdevID(n.ID)}
		switch n.Kind {
		case NICUser:
			for _, f := range n.Forwards {
				if f.HostPort == 0 {
					return nil, fmt.Errorf("NIC %s forward to guest %d: %w", n.ID, f.GuestPort, ErrPortUnallocated)
				}
				nd = append(nd, "hostfwd", fmt.Sprintf("%s:%s:%d-:%d", f.Proto, f.HostAddr, f.HostPort, f.GuestPort))
			}
		case NICSocket:
			addr, listen := n.linkAddr()
			if _, port, _ := splitHostPort(addr); port == 0 {
				return nil, fmt.Errorf("NIC %s listen: %w", n.ID, ErrPortUnallocated)
			}
			if listen {
				nd = append(nd, "listen", addr)
			} else {
				nd = append(nd, "connect", addr)
			}
		case NICStream:
			addr, listen := n.linkAddr()
			nd = append(nd, "server", onOff(listen))
			if isUnixAddr(addr) {
				nd = append(nd, "addr.type", "unix", "addr.path", addr)
			} else {
				host, port, _ := splitHostPort(addr)
				if port == 0 {
					return nil, fmt.Errorf("NIC %s listen: %w", n.ID, ErrPortUnallocated)
				}
				nd = append(nd, "addr.type", "inet", "addr.host", host, "addr.port", strconv.Itoa(port))
			}
		}
		a = append(a, "-netdev", device(string(n.Kind), nd...))
		a = append(a, "-device", device(n.Model, "netdev", netdevID(n.ID), "id", NICDeviceID(n.ID),
			"mac", n.MAC, "romfile", ""))
	}
	return a, nil
}

// bmcArgs adds the simulated BMC (or the chardev to an external one) and
// its KCS interface.
func bmcArgs(b BMC) []string {
	if !b.Enabled {
		return nil
	}
	if b.Extern {
		return []string{
			"-chardev", device("socket", "id", "ipmi0", "host", "127.0.0.1", "port", strconv.Itoa(b.ExternPort), "reconnect", "10"),
			"-device", device("ipmi-bmc-extern", "id", "bmc0", "chardev", "ipmi0"),
			"-device", device("isa-ipmi-kcs", "bmc", "bmc0"),
		}
	}
	bmc := []string{"id", "bmc0"}
	if b.FRUFile != "" {
		bmc = append(bmc, "frudatafile", b.FRUFile)
	}
	if b.SDRFile != "" {
		bmc = append(bmc, "sdrfile", b.SDRFile)
	}
	return []string{"-device", device("ipmi-bmc-sim", bmc...), "-device", device("isa-ipmi-kcs", "bmc", "bmc0")}
}

// opts joins key/value pairs into a QEMU option string, doubling commas in
// values (QEMU's escape).
func opts(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(kv[i+1], ",", ",,"))
	}
	return b.String()
}

// device is "driver,key=value,…", the form of -device and -netdev.
func device(driver string, kv ...string) string {
	if len(kv) == 0 {
		return driver
	}
	return driver + "," + opts(kv...)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

package qemu

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
)

// Defaults applied to a Machine's zero fields.
const (
	DefaultQEMU     = "qemu-system-x86_64"
	DefaultMemoryMB = 1024
	DefaultCPUs     = 1
	DefaultNICModel = "virtio-net-pci"
	DefaultHostAddr = "127.0.0.1"
)

// Files the harness keeps in Machine.Dir.
const (
	ConsoleLogName = "console.log" // the guest's ttyS0, written by QEMU as it arrives
	QEMULogName    = "qemu.log"    // QEMU's own stdout and stderr
	QMPSocketName  = "qmp.sock"    // the QMP control socket
)

// Machine describes one virtual appliance. It is a plain value: Args turns it into
// a QEMU command line, Start runs it. Zero fields take the documented defaults.
type Machine struct {
	// QEMU is the emulator binary, looked up in PATH when it has no slash
	// (default "qemu-system-x86_64").
	QEMU string
	// Kernel is the kernel image: an uncompressed vmlinux (PVH boot, several
	// seconds faster under TCG) or a bzImage. Required.
	Kernel string
	// Initrd is the initramfs, empty for none.
	Initrd string
	// Append holds extra kernel command-line parts. The harness always puts
	// "console=ttyS0 panic=-1 cryptomgr.notests=1" first.
	Append []string
	// MemoryMB is the guest RAM (default 1024).
	MemoryMB int
	// CPUs is the vCPU count (default 1: with TCG on two host cores -smp 1
	// boots and resyncs faster than -smp 2).
	CPUs int
	// Dir is the work directory for disk images, the console log, QEMU's log
	// and the QMP socket. Required; Start creates it. It must not contain a
	// comma and must be short enough for a unix socket path.
	Dir string
	// Disks are attached in order; the order fixes the guest's PCI and AHCI
	// enumeration.
	Disks []Disk
	// EmptySlots are hot-pluggable PCIe root ports left empty after the
	// disks, for VM.PlugDisk (a new disk pushed into an empty bay).
	EmptySlots int
	// NICs are attached in order.
	NICs []NIC
	// BMC adds QEMU's simulated IPMI BMC on a KCS interface.
	BMC BMC
	// Reboot lets a guest reset restart the guest inside the same QEMU
	// process (-no-reboot is left out), so state outside the guest's RAM —
	// the simulated BMC's watchdog flags and SEL, the disks, the console
	// log, the forwarded ports — carries over into the next boot. The
	// console log then holds every boot in turn: Expect's cursor finds the
	// next boot's lines after the previous boot's. Without it (the
	// default) a reboot, a watchdog reset or a panic (panic=-1) ends QEMU;
	// with it they all restart the guest, so a scenario that sets Reboot
	// must bound its waits and close the VM itself.
	Reboot bool
	// Extra is appended verbatim to the command line: the escape hatch for
	// anything this description does not cover.
	Extra []string
}

// BMC configures QEMU's ipmi-bmc-sim behind an ISA KCS interface (the guest's
// ipmi_si binds to it through ACPI IPI0001 without parameters).
type BMC struct {
	Enabled bool
	FRUFile string // frudatafile=, empty for QEMU's zeroed FRU area
	SDRFile string // sdrfile=, empty for the single built-in watchdog SDR
	// Extern replaces ipmi-bmc-sim with ipmi-bmc-extern: the KCS interface
	// talks to an external BMC simulator (OpenIPMI's ipmi_sim with
	// "serial kcs 127.0.0.1 PORT codec VM") through a TCP chardev to
	// 127.0.0.1:ExternPort that reconnects every 10 s. That BMC has a LAN
	// channel, which QEMU's own lacks. FRUFile and SDRFile do not apply.
	Extern     bool
	ExternPort int
}

// ConsoleLog, QEMULog and QMPSocket return the paths of the harness's files in Dir.
func (m Machine) ConsoleLog() string { return filepath.Join(m.Dir, ConsoleLogName) }

// QEMULog returns the path QEMU's stdout and stderr are written to.
func (m Machine) QEMULog() string { return filepath.Join(m.Dir, QEMULogName) }

// QMPSocket returns the path of the QMP unix socket.
func (m Machine) QMPSocket() string { return filepath.Join(m.Dir, QMPSocketName) }

// withDefaults returns a deep copy of m with every defaulted field filled in.
// It is pure: it depends only on m.
func (m Machine) withDefaults() Machine {
	if m.QEMU == "" {
		m.QEMU = DefaultQEMU
	}
	if m.MemoryMB == 0 {
		m.MemoryMB = DefaultMemoryMB
	}
	if m.CPUs == 0 {
		m.CPUs = DefaultCPUs
	}
	m.Append = slices.Clone(m.Append)
	m.Extra = slices.Clone(m.Extra)
	m.Disks = slices.Clone(m.Disks)
	for i := range m.Disks {
		d := &m.Disks[i]
		if d.Kind == "" {
			d.Kind = DiskVirtio
		}
		if d.Serial == "" {
			d.Serial = d.ID
		}
		if d.Path == "" {
			d.Path = filepath.Join(m.Dir, d.ID+".img")
		}
	}
	m.NICs = slices.Clone(m.NICs)
	for i := range m.NICs {
		n := &m.NICs[i]
		if n.Kind == "" {
			n.Kind = NICUser
		}
		if n.Model == "" {
			n.Model = DefaultNICModel
		}
		if n.MAC == "" {
			n.MAC = defaultMAC(m.Dir, n.ID)
		}
		n.Forwards = slices.Clone(n.Forwards)
		for j := range n.Forwards {
			f := &n.Forwards[j]
			if f.Proto == "" {
				f.Proto = "tcp"
			}
			if f.HostAddr == "" {
				f.HostAddr = DefaultHostAddr
			}
		}
	}
	return m
}

// defaultMAC derives a stable, locally administered MAC in QEMU's 52:54:00 range
// from the machine's directory and the NIC's ID, so two VMs on one L2 link never
// share QEMU's single built-in default address.
func defaultMAC(dir, nicID string) string {
	h := sha256.Sum256([]byte(dir + "\x00" + nicID))
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", h[0], h[1], h[2])
}

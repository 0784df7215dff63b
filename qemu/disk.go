package qemu

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DiskKind is the bus a disk is attached to.
type DiskKind string

// Disk kinds. The zero value means DiskVirtio.
const (
	// DiskVirtio is a virtio-blk-pci behind its own pcie-root-port: /dev/vdX,
	// serial in /sys/block/vdX/serial (at most 20 bytes).
	DiskVirtio DiskKind = "virtio"
	// DiskNVMe is an NVMe controller behind its own pcie-root-port:
	// /dev/nvmeNn1. Its SMART critical warning is settable with QMP qom-set
	// /machine/peripheral/disk-<ID> smart_critical_warning.
	DiskNVMe DiskKind = "nvme"
	// DiskSATA is an ide-hd on one of the six ports (ide.0–ide.5) of q35's
	// built-in ICH9 AHCI: /dev/sdX, with a (fixed) ATA SMART table. It cannot
	// be hot-unplugged; use FaultInjection to fail it.
	DiskSATA DiskKind = "sata"
)

// maxSATAPorts is the number of ports on q35's ICH9 AHCI controller.
const maxSATAPorts = 6

// Disk is one data disk backed by a raw image file on the host.
type Disk struct {
	// ID names the disk: 1–16 characters of [A-Za-z0-9_-], starting with a
	// letter or digit. The QEMU device is "disk-<ID>" (see DiskDeviceID).
	ID string
	// SizeBytes is the size a missing image is created with (sparse). An
	// existing image is used as it is.
	SizeBytes int64
	// Kind selects the bus (default DiskVirtio).
	Kind DiskKind
	// Serial is the serial number the guest sees (default ID).
	Serial string
	// Model is the ATA model string; SATA only.
	Model string
	// Path is the image file (default Dir/<ID>.img).
	Path string
	// Hotpluggable turns hotplug on for the disk's pcie-root-port so QMP
	// device_del can remove it (native PCIe hotplug; the guest ejects it after
	// pciehp's ~5 s attention delay). Virtio and NVMe only; without it the
	// port is created with hotplug=off, which keeps the PCI topology — and so
	// the guest's device order — the same either way.
	Hotpluggable bool
	// FaultInjection puts a blkdebug node between the image and the disk,
	// armed with a rule that fails every I/O with EIO once the host issues a
	// zero-write (VM.InjectDiskFault). Works on every bus.
	FaultInjection bool
}

// DiskDeviceID returns the QEMU device id of the disk with the given ID, the
// name QMP device_del and qom-set take.
func DiskDeviceID(id string) string { return "disk-" + id }

// rootPortID is the id of the pcie-root-port a PCI disk sits behind.
func rootPortID(id string) string { return "rp-" + id }

// Block node names, below QEMU's 31-character limit for IDs of up to 16 bytes.
func fileNode(id string) string  { return "disk-" + id + "-file" }
func debugNode(id string) string { return "disk-" + id + "-dbg" }
func rawNode(id string) string   { return "disk-" + id + "-raw" }

// blkdebugConfig is the error-injection rule: the host's zero-write fires the
// pwritev_zero event, after which every request on the node fails with EIO.
const blkdebugConfig = `[inject-error]
event = "pwritev_zero"
errno = "5"
once = "off"
`

// blkdebugConfigPath is where the blkdebug rule of a disk is written.
func blkdebugConfigPath(dir, id string) string {
	return filepath.Join(dir, id+".blkdebug.conf")
}

// isPCI reports whether the disk sits behind its own pcie-root-port.
func (d Disk) isPCI() bool { return d.Kind == DiskVirtio || d.Kind == DiskNVMe }

// qdevPath is the qdev id that owns the disk's block backend, as HMP
// "qemu-io -d" wants it: virtio-blk-pci keeps it on its inner virtio device.
func (d Disk) qdevPath() string {
	if d.Kind == DiskVirtio {
		return DiskDeviceID(d.ID) + "/virtio-backend"
	}
	return DiskDeviceID(d.ID)
}

// prepareDisk creates the disk's image if it is missing (sparse, like
// truncate -s) and writes its blkdebug rule. d has its defaults applied.
func prepareDisk(dir string, d Disk) error {
	if _, err := os.Stat(d.Path); errors.Is(err, fs.ErrNotExist) {
		if d.SizeBytes <= 0 {
			return fmt.Errorf("disk %s: image %s is missing and SizeBytes is %d", d.ID, d.Path, d.SizeBytes)
		}
		if err := createSparse(d.Path, d.SizeBytes); err != nil {
			return fmt.Errorf("disk %s: %w", d.ID, err)
		}
	} else if err != nil {
		return fmt.Errorf("disk %s: %w", d.ID, err)
	}
	if d.FaultInjection {
		p := blkdebugConfigPath(dir, d.ID)
		if err := os.WriteFile(p, []byte(blkdebugConfig), 0o644); err != nil {
			return fmt.Errorf("disk %s: write blkdebug config: %w", d.ID, err)
		}
	}
	return nil
}

// createSparse creates path with the given size without allocating blocks.
func createSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("size image %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close image %s: %w", path, err)
	}
	return nil
}

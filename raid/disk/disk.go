// Package disk discovers the block devices of the box from sysfs and
// gives each a stable identity, so the vault knows its disks by serial
// and WWN, not by /dev/sdX names that change between boots.
//
// Discover reads /sys/block below a root path (a fake tree in tests): the
// device number, size, block sizes, rotational/SSD, removable, read-only,
// the transport (virtio, nvme, sata, sas, scsi, usb) from where the device
// sits in the device tree, serial, WWN, model, vendor and firmware from
// the places each transport puts them, and its holders (an md array that
// uses it) and partitions. Virtual devices (loop, ram, zram, md, dm, nbd,
// optical, floppy) are not disks and are left out.
//
// Classify assigns each disk a role by policy: data (array material),
// db (the dedup database SSD), boot (the medium the box boots from:
// removable or USB), or excluded by configuration.
//
// Identity (ID) follows /dev/disk/by-id: "wwn-0x…" when the disk has a
// WWN, else "<transport>-<model>_<serial>" or "<transport>-<serial>";
// only a disk with neither gets the unstable "path-<name>" and Stable
// false, and the vault will not build an array from it.
package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Transport is how a disk is attached.
type Transport string

// Transports.
const (
	Virtio  Transport = "virtio"
	NVMe    Transport = "nvme"
	SATA    Transport = "sata"
	SAS     Transport = "sas"
	SCSI    Transport = "scsi"
	USB     Transport = "usb"
	Unknown Transport = "unknown"
)

// Disk is one block device as sysfs shows it.
type Disk struct {
	Name  string `json:"name"` // kernel name: vdb, sda, nvme0n1
	Path  string `json:"path"` // /dev/<name>
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
	// ID is the stable identity (see the package doc).
	ID     string `json:"id"`
	Stable bool   `json:"stable"`

	Serial   string `json:"serial,omitempty"`
	WWN      string `json:"wwn,omitempty"`
	Model    string `json:"model,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Firmware string `json:"firmware,omitempty"`

	// Sectors is the size in 512-byte sectors (sysfs "size").
	Sectors           uint64 `json:"sectors"`
	LogicalBlockSize  int    `json:"logical_block_size"`
	PhysicalBlockSize int    `json:"physical_block_size"`

	Rotational bool      `json:"rotational"`
	Removable  bool      `json:"removable"`
	ReadOnly   bool      `json:"read_only"`
	Transport  Transport `json:"transport"`

	// Controller is the NVMe controller's character device name
	// (nvme0) for admin commands; "" otherwise.
	Controller string `json:"controller,omitempty"`
	// Holders are the kernel devices that use this disk (md127).
	Holders []string `json:"holders,omitempty"`
	// Partitions are the disk's partitions (sda1).
	Partitions []string `json:"partitions,omitempty"`
}

// Bytes is the disk's size in bytes.
func (d Disk) Bytes() uint64 { return d.Sectors * 512 }

// Dev is "major:minor".
func (d Disk) Dev() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// virtualPrefixes name block devices that are not disks.
var virtualPrefixes = []string{"loop", "ram", "zram", "md", "dm-", "nbd", "sr", "fd", "zd"}

// Discover returns the disks under sysRoot/block, sorted by name. A disk
// whose attributes cannot be read is an error naming it; a missing block
// directory (no disks at all) is not.
func Discover(sysRoot, devRoot string) ([]Disk, error) {
	dir := filepath.Join(sysRoot, "block")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discover disks: %w", err)
	}
	var out []Disk
	for _, e := range ents {
		name := e.Name()
		if slices.ContainsFunc(virtualPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		d, err := read(sysRoot, devRoot, name)
		if err != nil {
			return nil, fmt.Errorf("discover disk %s: %w", name, err)
		}
		if d.Sectors == 0 {
			continue // an empty slot (card reader, ejected medium)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Read returns one disk by kernel name (after a hot-add, say).
func Read(sysRoot, devRoot, name string) (Disk, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return Disk{}, fmt.Errorf("disk name %q is not a kernel block device name", name)
	}
	return read(sysRoot, devRoot, name)
}

func read(sysRoot, devRoot, name string) (Disk, error) {
	base := filepath.Join(sysRoot, "block", name)
	d := Disk{Name: name, Path: filepath.Join(devRoot, name)}
	devno, err := attr(base, "dev")
	if err != nil {
		return d, err
	}
	if d.Major, d.Minor, err = parseDev(devno); err != nil {
		return d, err
	}
	size, err := attr(base, "size")
	if err != nil {
		return d, err
	}
	if d.Sectors, err = strconv.ParseUint(size, 10, 64); err != nil {
		return d, fmt.Errorf("size %q: %w", size, err)
	}
	d.LogicalBlockSize = optInt(base, "queue/logical_block_size", 512)
	d.PhysicalBlockSize = optInt(base, "queue/physical_block_size", d.LogicalBlockSize)
	d.Rotational = optInt(base, "queue/rotational", 1) == 1
	d.Removable = optInt(base, "removable", 0) == 1
	d.ReadOnly = optInt(base, "ro", 0) == 1

	link, _ := os.Readlink(base) // ../devices/pci0000:00/…/virtio3/block/vda
	d.Transport = transportOf(link)
	switch d.Transport {
	case Virtio:
		d.Serial = optAttr(base, "serial")
	case NVMe:
		d.Serial = optAttr(base, "device/serial")
		d.Model = optAttr(base, "device/model")
		d.Firmware = optAttr(base, "device/firmware_rev")
		d.WWN = nvmeWWN(optAttr(base, "wwid"))
		d.Controller = filepath.Base(resolve(filepath.Join(base, "device")))
		if !strings.HasPrefix(d.Controller, "nvme") {
			d.Controller = ""
		}
	default:
		d.Model = optAttr(base, "device/model")
		d.Vendor = optAttr(base, "device/vendor")
		d.Firmware = optAttr(base, "device/rev")
		d.Serial = vpdSerial(filepath.Join(base, "device", "vpd_pg80"))
		d.WWN = scsiWWN(optAttr(base, "device/wwid"))
	}
	d.ID, d.Stable = identity(d)
	d.Holders = listDir(filepath.Join(base, "holders"))
	for _, e := range listDir(base) {
		if _, err := os.Stat(filepath.Join(base, e, "partition")); err == nil {
			d.Partitions = append(d.Partitions, e)
		}
	}
	return d, nil
}

// transportOf reads the transport off the device's sysfs path.
func transportOf(link string) Transport {
	switch {
	case strings.Contains(link, "/usb"):
		return USB
	case strings.Contains(link, "/virtio"):
		return Virtio
	case strings.Contains(link, "/nvme"):
		return NVMe
	case strings.Contains(link, "/ata"):
		return SATA
	case strings.Contains(link, "/end_device-") || strings.Contains(link, "/sas_"):
		return SAS
	case strings.Contains(link, "/host") && strings.Contains(link, "/target"):
		return SCSI
	}
	return Unknown
}

// identity is the by-id style stable name.
func identity(d Disk) (string, bool) {
	if d.WWN != "" {
		return "wwn-" + d.WWN, true
	}
	if d.Serial == "" {
		return "path-" + d.Name, false
	}
	id := string(d.Transport) + "-"
	if d.Model != "" {
		id += d.Model + "_"
	}
	return sanitize(id + d.Serial), true
}

// sanitize makes an identity safe as a file name and readable: runs of
// spaces become one underscore, other unsafe bytes are dropped.
func sanitize(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '\t':
			if !space {
				b.WriteByte('_')
			}
			space = true
			continue
		case r == '/' || r < 0x20 || r > 0x7e:
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// nvmeWWN keeps a namespace's globally unique id (eui.… or nvme.…
// without the trailing zero padding QEMU uses); "" when none.
func nvmeWWN(wwid string) string {
	if strings.HasPrefix(wwid, "eui.") || strings.HasPrefix(wwid, "nguid.") || strings.HasPrefix(wwid, "uuid.") {
		return wwid
	}
	return "" // "nvme.<vid>-<serial>-<model>-<nsid>": no WWN, the serial says it
}

// scsiWWN keeps an NAA identifier (what by-id calls wwn-0x…); t10 vendor
// strings are not WWNs.
func scsiWWN(wwid string) string {
	if v, ok := strings.CutPrefix(wwid, "naa."); ok {
		return "0x" + strings.ToLower(v)
	}
	return ""
}

// vpdSerial reads the unit serial number VPD page (0x80): a 4-byte header
// with the length in bytes 2–3, then the serial, space padded.
func vpdSerial(p string) string {
	b, err := os.ReadFile(p)
	if err != nil || len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	if n > len(b)-4 {
		n = len(b) - 4
	}
	return strings.TrimSpace(strings.Trim(string(b[4:4+n]), "\x00"))
}

func parseDev(s string) (uint32, uint32, error) {
	maj, min, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("dev %q is not major:minor", s)
	}
	return uint32(a), uint32(b), nil
}

func attr(base, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(base, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func optAttr(base, name string) string {
	s, _ := attr(base, name)
	return s
}

func optInt(base, name string, def int) int {
	s, err := attr(base, name)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

func listDir(p string) []string {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// resolve follows a symlink to its absolute target ("" if it is none).
func resolve(p string) string {
	t, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return t
}

package smart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is how a block device's health can be read.
type Kind string

const (
	KindATA  Kind = "ata"  // SCSI disk node (/dev/sdX): ATA PASS-THROUGH via SG_IO
	KindNVMe Kind = "nvme" // /dev/nvmeN or /dev/nvmeNnM: NVMe admin commands
)

// Target is a resolved device: the whole-disk node to open and how.
type Target struct {
	Path string // e.g. /dev/sda for /dev/sda2
	Name string // kernel name, e.g. sda, nvme0n1, nvme0
	Kind Kind
	// NSID is the NVMe namespace of a namespace node (nvme0n1 → 1), 0
	// for the controller node.
	NSID uint32
}

// Opener opens devices for reading health; the caller closes what it
// opened.
type Opener interface {
	OpenATA(path string) (ATADevice, io.Closer, error)
	OpenNVMe(path string) (NVMeDevice, io.Closer, error)
}

// Reader reads disk health. The zero value reads the real /sys and /dev
// with DefaultPolicy.
type Reader struct {
	// Sys is the sysfs root; "" means "/sys".
	Sys string
	// Opener opens the device nodes; nil means LinuxOpener{}.
	Opener Opener
	// Policy judges the readings; nil means DefaultPolicy().
	Policy *Policy
}

// Read is (&Reader{}).Read: the real system, the default policy.
func Read(ctx context.Context, devPath string) (*Report, error) {
	var r Reader
	return r.Read(ctx, devPath)
}

// Read resolves devPath (a disk, a partition of one, or a symlink such
// as /dev/disk/by-id/…) to its whole disk, reads it over ATA or NVMe and
// returns the report. Devices without SMART (virtio, md, loop, dm, SCSI
// disks that refuse ATA PASS-THROUGH, ATA disks without the feature set)
// fail with ErrNoSMART.
func (r *Reader) Read(ctx context.Context, devPath string) (*Report, error) {
	t, err := r.Resolve(devPath)
	if err != nil {
		return nil, err
	}
	op := r.Opener
	if op == nil {
		op = LinuxOpener{}
	}
	pol := DefaultPolicy()
	if r.Policy != nil {
		pol = *r.Policy
	}
	switch t.Kind {
	case KindATA:
		dev, c, err := op.OpenATA(t.Path)
		if err != nil {
			return nil, err
		}
		h, err := ReadATA(ctx, dev)
		if err = closeWith(c, err); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Path, err)
		}
		return ATAReport(t.Path, h, pol), nil
	case KindNVMe:
		dev, c, err := op.OpenNVMe(t.Path)
		if err != nil {
			return nil, err
		}
		h, err := ReadNVMe(ctx, dev, t.NSID)
		if err = closeWith(c, err); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Path, err)
		}
		return NVMeReport(t.Path, h, pol), nil
	}
	return nil, fmt.Errorf("smart: %s: kind %q: %w", devPath, t.Kind, ErrNoSMART)
}

func closeWith(c io.Closer, err error) error {
	if c == nil {
		return err
	}
	if cerr := c.Close(); cerr != nil && err == nil {
		return fmt.Errorf("smart: close: %w", cerr)
	}
	return err
}

func (r *Reader) sys() string {
	if r.Sys == "" {
		return "/sys"
	}
	return r.Sys
}

// Resolve maps devPath to the whole-disk node and its kind. Symlinks are
// followed when they resolve. With the device in sysfs
// (class/block/<name>): a partition is replaced by its parent disk, and
// the disk's device/subsystem decides — "scsi" is ATA (tried through
// SAT), "nvme" and "nvme-subsystem" are NVMe, anything else (virtio, xen,
// mmc) and disks without a device (md, loop, dm, zram) have no SMART.
// NVMe controller nodes (nvmeN) are NVMe. Without sysfs the name decides:
// sdX → ATA, nvmeNnM → NVMe, anything else → ErrNoSMART.
func (r *Reader) Resolve(devPath string) (Target, error) {
	p := devPath
	if real, err := filepath.EvalSymlinks(devPath); err == nil {
		p = real
	}
	dir, name := filepath.Split(p)
	if name == "" {
		return Target{}, fmt.Errorf("smart: %q names no device: %w", devPath, ErrNoSMART)
	}
	if n, ok := parseNVMe(name); ok && n.controller {
		return Target{Path: p, Name: name, Kind: KindNVMe}, nil
	}
	blk := filepath.Join(r.sys(), "class", "block", name)
	if _, err := os.Lstat(blk); err == nil {
		return r.resolveSysfs(devPath, dir, name, blk)
	}
	return resolveName(devPath, dir, name)
}

func (r *Reader) resolveSysfs(devPath, dir, name, blk string) (Target, error) {
	disk := name
	if _, err := os.Stat(filepath.Join(blk, "partition")); err == nil {
		real, err := filepath.EvalSymlinks(blk)
		if err != nil {
			return Target{}, fmt.Errorf("smart: %s: resolve partition: %w", devPath, err)
		}
		disk = filepath.Base(filepath.Dir(real))
		blk = filepath.Join(r.sys(), "class", "block", disk)
	}
	t := Target{Path: filepath.Join(dir, disk), Name: disk}
	sub, err := filepath.EvalSymlinks(filepath.Join(blk, "device", "subsystem"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Target{}, fmt.Errorf("smart: %s: %s is a virtual block device: %w", devPath, disk, ErrNoSMART)
		}
		return Target{}, fmt.Errorf("smart: %s: %w", devPath, err)
	}
	switch s := filepath.Base(sub); s {
	case "scsi":
		t.Kind = KindATA
	case "nvme", "nvme-subsystem":
		t.Kind = KindNVMe
		if n, ok := parseNVMe(disk); ok {
			t.NSID = n.nsid
		}
	default:
		return Target{}, fmt.Errorf("smart: %s: %s is on bus %q: %w", devPath, disk, s, ErrNoSMART)
	}
	return t, nil
}

func resolveName(devPath, dir, name string) (Target, error) {
	if n, ok := parseNVMe(name); ok {
		return Target{Path: filepath.Join(dir, n.disk), Name: n.disk, Kind: KindNVMe, NSID: n.nsid}, nil
	}
	if disk, ok := parseLettered(name, "sd"); ok {
		return Target{Path: filepath.Join(dir, disk), Name: disk, Kind: KindATA}, nil
	}
	return Target{}, fmt.Errorf("smart: %s: not a SCSI or NVMe disk: %w", devPath, ErrNoSMART)
}

type nvmeName struct {
	controller bool   // nvmeN
	disk       string // the namespace (no partition)
	nsid       uint32
}

// parseNVMe parses nvmeN, nvmeNnM, nvmeNcKnM, each namespace form with an
// optional pP partition suffix.
func parseNVMe(name string) (nvmeName, bool) {
	rest, ok := strings.CutPrefix(name, "nvme")
	if !ok {
		return nvmeName{}, false
	}
	rest, ok = digits(rest)
	if !ok {
		return nvmeName{}, false
	}
	if rest == "" {
		return nvmeName{controller: true, disk: name}, true
	}
	if r, ok := strings.CutPrefix(rest, "c"); ok {
		if rest, ok = digits(r); !ok {
			return nvmeName{}, false
		}
	}
	r, ok := strings.CutPrefix(rest, "n")
	if !ok {
		return nvmeName{}, false
	}
	after, ok := digits(r)
	if !ok {
		return nvmeName{}, false
	}
	ns, err := strconv.ParseUint(r[:len(r)-len(after)], 10, 32)
	if err != nil {
		return nvmeName{}, false
	}
	disk := name[:len(name)-len(after)]
	if after != "" {
		p, ok := strings.CutPrefix(after, "p")
		if !ok {
			return nvmeName{}, false
		}
		if tail, ok := digits(p); !ok || tail != "" {
			return nvmeName{}, false
		}
	}
	return nvmeName{disk: disk, nsid: uint32(ns)}, true
}

// parseLettered parses <prefix><letters><digits>: sdb, sdaa3 → sdb, sdaa.
func parseLettered(name, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", false
	}
	i := 0
	for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
		i++
	}
	if i == 0 {
		return "", false
	}
	if tail := rest[i:]; tail != "" {
		if t, ok := digits(tail); !ok || t != "" {
			return "", false
		}
	}
	return prefix + rest[:i], true
}

// digits strips a non-empty run of leading decimal digits.
func digits(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[i:], i > 0
}

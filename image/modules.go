package image

import (
	"context"
	"fmt"
	"io/fs"
	"path"

	"keep/appliance/kmod"
)

// DefaultModules are the kernel modules the appliance carries, by area.
// Their closure (dependencies and softdeps, computed with kmod) is what the
// image holds. Only DefaultBootModules are loaded at boot; the kernel asks
// for the rest when first used (mounting xfs, starting a RAID 6 array,
// adding a bond or an ESP SA) through request_module, which /sbin/modprobe
// (the keep binary) answers from the image's filtered index.
// Every one is a loadable module in the Debian 6.1.0-56-amd64 tree; none is
// built in. Three entries go beyond the design's list (marked "runtime"):
// modules a listed module asks the crypto API for while it initializes,
// which modules.dep cannot know; without them in the image the kernel's
// request_module finds nothing (seen booting the image under QEMU).
// Build does not modify the slice.
var DefaultModules = []string{
	// Disks: virtio, NVMe, AHCI/SATA, SCSI disks.
	// runtime: crc64_rocksoft (via nvme, sd_mod) asks for "crc64-rocksoft"
	// and falls back to a slow table without it.
	"crc64_rocksoft_generic",
	"virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "nvme", "ahci", "sd_mod",
	// The data vault: md and its personalities.
	"md_mod", "raid0", "raid1", "raid10", "raid456",
	// BMC: KCS/SMIC/BT interface, /dev/ipmi0, the watchdog. ipmi_si reports
	// "no device" on machines without a BMC.
	"ipmi_si", "ipmi_devintf", "ipmi_msghandler", "ipmi_watchdog",
	// runtime: ipmi_si asks for acpi_ipmi (the ACPI IPMI operation region,
	// which firmware power meters use) when it finds a BMC.
	"acpi_ipmi",
	// NOC tunnel: XFRM netlink and interfaces, ESP, AES-GCM. drbg provides
	// stdrng, without which seqiv/echainiv (and so every AES SA) fail.
	"xfrm_user", "xfrm_interface", "esp4", "authenc", "gcm", "aesni_intel", "ghash_clmulni_intel",
	"seqiv", "echainiv", "drbg",
	// runtime: jitterentropy_rng's init fails with ENOENT without sha3-256.
	"sha3_generic", "jitterentropy_rng",
	// runtime: drbg's default stdrng is hmac(sha512), which no
	// modules.dep names: without sha512 every AES SA fails with ENOENT
	// (found by the NOC guest, package keep/qemu/noc).
	"sha512_generic",
	// runtime: the gcm template builds gcm_base(ctr(aes),ghash) through
	// request_module ("crypto-ctr", "crypto-ghash").
	"ctr", "ghash_generic",
	// Network: bonds and VLANs.
	"bonding", "8021q",
	// The data filesystem.
	"xfs",
	// ACPI power button → /dev/input/event* for orderly shutdown.
	"button", "evdev",
}

// DefaultBootModules are loaded at boot, in dependency order, before the
// services start: drivers for devices that nothing else would load (there
// is no udev), and the power button. They are a subset of DefaultModules.
// Loading all of DefaultModules at boot cost 4 s under TCG (xfs alone 1.3
// s), over the 8 s boot target, for modules the kernel loads on demand.
var DefaultBootModules = []string{
	"crc64_rocksoft_generic",
	"virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "nvme", "ahci", "sd_mod",
	"md_mod",
	"ipmi_si", "ipmi_devintf",
	"button", "evdev",
	// The NOC tunnel's ESP crypto is not here: the tunnel service loads
	// it in-process when it starts (appliance/tunnel.go tunnelModules),
	// so only boxes with a tunnel pay for it.
}

// moduleSet is what the image carries of a module tree.
type moduleSet struct {
	release string
	files   map[string][]byte // module files by path relative to the modules directory
	index   map[string][]byte // filtered modules.* index files
	list    []string          // requested modules in load order (/etc/keep/modules)
	bytes   int64             // total size of files
}

// selectModules computes the closure of names in the module tree at dir and
// reads the module files and filtered index files the image needs; boot
// (a subset of names) becomes the boot list.
func selectModules(ctx context.Context, dir string, names, boot []string) (moduleSet, error) {
	db, err := kmod.OpenDir(dir)
	if err != nil {
		return moduleSet{}, fmt.Errorf("module tree: %w (want /lib/modules/<release> of the image's kernel)", err)
	}
	closure, err := db.Closure(names...)
	if err != nil {
		return moduleSet{}, fmt.Errorf("module closure: %w", err)
	}
	set := moduleSet{release: path.Base(dir), files: map[string][]byte{}}
	var loadable []string
	for _, m := range closure {
		if err := ctx.Err(); err != nil {
			return moduleSet{}, err
		}
		if m.Builtin {
			continue
		}
		data, err := fs.ReadFile(db.FS(), m.Path)
		if err != nil {
			return moduleSet{}, fmt.Errorf("module %s: %w", m.Name, err)
		}
		set.files[m.Path] = data
		set.bytes += int64(len(data))
		loadable = append(loadable, m.Name)
	}
	sub, err := db.Subset(loadable...)
	if err != nil {
		return moduleSet{}, fmt.Errorf("module index: %w", err)
	}
	set.index = sub.IndexFiles()
	set.list = requestedInOrder(boot, closure)
	if len(set.list) != len(dedupe(boot)) {
		return moduleSet{}, fmt.Errorf("boot modules %v are not all among the image's modules (closure of %v)", boot, names)
	}
	return set, nil
}

// requestedInOrder returns the requested modules, normalized and without
// duplicates, in the order they appear in the closure.
func requestedInOrder(names []string, closure []kmod.Module) []string {
	want := map[string]bool{}
	for _, n := range names {
		want[kmod.NormalizeName(n)] = true
	}
	var out []string
	for _, m := range closure {
		if want[m.Name] {
			out = append(out, m.Name)
		}
	}
	return out
}

func dedupe(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[kmod.NormalizeName(n)] = true
	}
	return m
}

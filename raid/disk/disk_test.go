package disk

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeSys builds a sysfs tree the way the kernel lays it out: the device
// directory under devices/, and block/<name> a symlink to it.
type fakeSys struct {
	t    *testing.T
	root string
}

func newFakeSys(t *testing.T) *fakeSys { return &fakeSys{t: t, root: t.TempDir()} }

// disk creates devices/<devpath>/block/<name> with attrs (relative paths,
// "device/…" for the parent device) and links block/<name> to it.
func (f *fakeSys) disk(devpath, name string, attrs map[string]string) string {
	f.t.Helper()
	dir := filepath.Join(f.root, "devices", devpath, "block", name)
	for p, v := range attrs {
		full := filepath.Join(dir, p)
		if filepath.Dir(p) == "device" {
			full = filepath.Join(f.root, "devices", devpath, filepath.Base(p))
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(f.root, "block"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Join(f.root, "block"), dir)
	if err := os.Symlink(rel, filepath.Join(f.root, "block", name)); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.root, "devices", devpath), filepath.Join(dir, "device")); err != nil && !os.IsExist(err) {
		f.t.Fatal(err)
	}
	return dir
}

func (f *fakeSys) mkdir(p string) {
	if err := os.MkdirAll(filepath.Join(f.root, p), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func vpd80(serial string) string {
	return string([]byte{0, 0x80, 0, byte(len(serial))}) + serial
}

func TestDiscover(t *testing.T) {
	f := newFakeSys(t)
	f.disk("pci0000:00/0000:00:03.0/0000:01:00.0/virtio2", "vda", map[string]string{
		"dev": "253:0\n", "size": "131072\n", "serial": "d1\n",
		"queue/rotational": "1\n", "queue/logical_block_size": "512\n", "queue/physical_block_size": "512\n",
		"removable": "0\n", "ro": "0\n",
	})
	f.mkdir("devices/pci0000:00/0000:00:03.0/0000:01:00.0/virtio2/block/vda/holders/md127")
	// NVMe: the namespace's device link points at the controller.
	nvme := "pci0000:00/0000:00:04.0/nvme/nvme0"
	f.disk(nvme, "nvme0n1", map[string]string{
		"dev": "259:0\n", "size": "262144\n", "queue/rotational": "0\n",
		"wwid":          "nvme.1b36-4e564d4530303031-51454d55204e564d65204374726c-00000001\n",
		"device/serial": "NVME0001            \n", "device/model": "QEMU NVMe Ctrl                          \n",
		"device/firmware_rev": "7.2.22  \n",
	})
	// SATA through libata's SCSI layer, with a WWN.
	sd := f.disk("pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0", "sda", map[string]string{
		"dev": "8:0\n", "size": "1048576\n", "queue/rotational": "1\n",
		"device/model": "QEMU HARDDISK   \n", "device/vendor": "ATA     \n", "device/rev": "2.5+\n",
		"device/vpd_pg80": vpd80("SATA0001"), "device/wwid": "naa.5000C500ABCDEF01\n",
		"sda1/partition": "1\n",
	})
	_ = sd
	// A USB stick (the boot medium), removable.
	f.disk("pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0", "sdb", map[string]string{
		"dev": "8:16\n", "size": "2048\n", "removable": "1\n",
		"device/model": "Flash Disk\n", "device/vpd_pg80": vpd80("USB123"),
	})
	// Not disks: md, loop; and an empty slot.
	f.disk("virtual/block/md127", "md127", map[string]string{"dev": "9:127\n", "size": "1000\n"})
	f.disk("virtual/block/loop0", "loop0", map[string]string{"dev": "7:0\n", "size": "0\n"})
	f.disk("pci0000:00/0000:00:05.0/virtio5", "vdz", map[string]string{"dev": "253:16\n", "size": "0\n"})

	disks, err := Discover(f.root, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, d := range disks {
		names = append(names, d.Name)
	}
	if want := []string{"nvme0n1", "sda", "sdb", "vda"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("disks = %v, want %v", names, want)
	}
	byName := map[string]Disk{}
	for _, d := range disks {
		byName[d.Name] = d
	}
	want := map[string]Disk{
		"vda": {Name: "vda", Path: "/dev/vda", Major: 253, Minor: 0, ID: "virtio-d1", Stable: true, Serial: "d1",
			Sectors: 131072, LogicalBlockSize: 512, PhysicalBlockSize: 512, Rotational: true, Transport: Virtio, Holders: []string{"md127"}},
		"nvme0n1": {Name: "nvme0n1", Path: "/dev/nvme0n1", Major: 259, Minor: 0, ID: "nvme-QEMU_NVMe_Ctrl_NVME0001", Stable: true,
			Serial: "NVME0001", Model: "QEMU NVMe Ctrl", Firmware: "7.2.22", Sectors: 262144, LogicalBlockSize: 512, PhysicalBlockSize: 512,
			Transport: NVMe, Controller: "nvme0"},
		"sda": {Name: "sda", Path: "/dev/sda", Major: 8, Minor: 0, ID: "wwn-0x5000c500abcdef01", Stable: true, Serial: "SATA0001",
			WWN: "0x5000c500abcdef01", Model: "QEMU HARDDISK", Vendor: "ATA", Firmware: "2.5+", Sectors: 1048576,
			LogicalBlockSize: 512, PhysicalBlockSize: 512, Rotational: true, Transport: SATA, Partitions: []string{"sda1"}},
		"sdb": {Name: "sdb", Path: "/dev/sdb", Major: 8, Minor: 16, ID: "usb-Flash_Disk_USB123", Stable: true, Serial: "USB123",
			Model: "Flash Disk", Sectors: 2048, LogicalBlockSize: 512, PhysicalBlockSize: 512, Rotational: true, Removable: true, Transport: USB},
	}
	for name, w := range want {
		if got := byName[name]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
		}
	}
	if got := byName["sda"].Bytes(); got != 512<<20 {
		t.Errorf("sda bytes = %d", got)
	}

	roles := Classify(disks, Policy{DB: []string{"NVME*"}, Exclude: []string{"wwn-0x5000c500*"}})
	gotRoles := map[string]Role{}
	for _, c := range roles {
		gotRoles[c.Name] = c.Role
	}
	if want := map[string]Role{"vda": RoleData, "nvme0n1": RoleDB, "sda": RoleExcluded, "sdb": RoleBoot}; !reflect.DeepEqual(gotRoles, want) {
		t.Errorf("roles = %v, want %v", gotRoles, want)
	}
}

func TestDiscoverErrors(t *testing.T) {
	// No block directory: no disks, no error.
	if d, err := Discover(t.TempDir(), "/dev"); err != nil || d != nil {
		t.Errorf("empty sysfs: %v, %v", d, err)
	}
	f := newFakeSys(t)
	f.disk("pci0000:00/virtio1", "vdb", map[string]string{"dev": "garbage", "size": "8"})
	if _, err := Discover(f.root, "/dev"); err == nil {
		t.Error("a bad dev attribute must be an error naming the disk")
	}
	f2 := newFakeSys(t)
	f2.disk("pci0000:00/virtio1", "vdb", map[string]string{"dev": "253:16", "size": "-1"})
	if _, err := Discover(f2.root, "/dev"); err == nil {
		t.Error("a bad size must be an error")
	}
	if _, err := Read(f2.root, "/dev", "../etc"); err == nil {
		t.Error("Read must refuse names that leave sysfs")
	}
}

func TestIdentityWithoutSerial(t *testing.T) {
	id, stable := identity(Disk{Name: "vdc", Transport: Virtio})
	if id != "path-vdc" || stable {
		t.Errorf("identity = %q %v", id, stable)
	}
	if got := sanitize("  ata-WDC  WD40/EFRX\x01_WD-123 "); got != "ata-WDC_WD40EFRX_WD-123" {
		t.Errorf("sanitize = %q", got)
	}
	if got := vpdSerial("/nonexistent"); got != "" {
		t.Errorf("vpdSerial of nothing = %q", got)
	}
}

package qemu

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// HostPort returns the host port forwarded to guestPort on the user NIC nicID
// (the picked one when the description said 0).
func (vm *VM) HostPort(nicID string, guestPort int) (int, error) {
	f, err := vm.forward(nicID, guestPort)
	if err != nil {
		return 0, err
	}
	return f.HostPort, nil
}

// HostAddr returns "host:port" on the host that reaches guestPort on the user
// NIC nicID, e.g. "127.0.0.1:41234".
func (vm *VM) HostAddr(nicID string, guestPort int) (string, error) {
	f, err := vm.forward(nicID, guestPort)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(f.HostAddr, strconv.Itoa(f.HostPort)), nil
}

func (vm *VM) forward(nicID string, guestPort int) (Forward, error) {
	n, err := vm.nic(nicID)
	if err != nil {
		return Forward{}, err
	}
	for _, f := range n.Forwards {
		if f.GuestPort == guestPort {
			return f, nil
		}
	}
	return Forward{}, fmt.Errorf("NIC %s has no forward to guest port %d", nicID, guestPort)
}

// ListenAddr returns the address a socket or stream NIC listens on, with the
// picked port when the description said 0: what the peer VM Connects to.
func (vm *VM) ListenAddr(nicID string) (string, error) {
	n, err := vm.nic(nicID)
	if err != nil {
		return "", err
	}
	if n.Listen == "" {
		return "", fmt.Errorf("NIC %s does not listen", nicID)
	}
	return n.Listen, nil
}

func (vm *VM) nic(id string) (NIC, error) {
	for _, n := range vm.m.NICs {
		if n.ID == id {
			return n, nil
		}
	}
	return NIC{}, fmt.Errorf("no NIC %q", id)
}

// UnplugDisk pulls a Hotpluggable virtio or NVMe disk out of its slot: QMP
// device_del, then the wait for DEVICE_DELETED, which comes only once the
// guest's pciehp has ejected it (~6 s NVMe, ~10 s virtio under TCG; never
// if the guest ignores it, so bound ctx). The image node stays in QEMU.
func (vm *VM) UnplugDisk(ctx context.Context, diskID string) error {
	d, err := vm.disk(diskID)
	if err != nil {
		return fmt.Errorf("unplug: %w", err)
	}
	if !d.Hotpluggable {
		return fmt.Errorf("unplug: disk %s is not Hotpluggable", diskID)
	}
	if err := vm.qmp.DeviceDel(ctx, DiskDeviceID(diskID)); err != nil {
		return fmt.Errorf("unplug disk %s: %w", diskID, err)
	}
	return nil
}

func (vm *VM) disk(id string) (Disk, error) {
	for _, d := range vm.m.Disks {
		if d.ID == id {
			return d, nil
		}
	}
	return Disk{}, fmt.Errorf("no disk %q", id)
}

// InjectDiskFault fails the disk: from now on every guest I/O to it gets EIO
// (SATA: "failed command … ABRT"; md fails the member about a second later).
// The disk must have FaultInjection. It works on any bus and needs nothing
// from the guest. The image file is not modified.
func (vm *VM) InjectDiskFault(ctx context.Context, diskID string) error {
	disk, err := vm.disk(diskID)
	if err != nil {
		return fmt.Errorf("inject fault: %w", err)
	}
	if !disk.FaultInjection {
		return fmt.Errorf("inject fault: disk %s has no FaultInjection", diskID)
	}
	// The zero-write fires blkdebug's pwritev_zero event, which arms the rule;
	// the write itself already fails. qemu-io prints to QEMU's stdout (qemu.log).
	out, err := vm.qmp.HumanMonitorCommand(ctx, fmt.Sprintf(`qemu-io -d %s "write -z 0 512"`, disk.qdevPath()))
	if err != nil {
		return fmt.Errorf("inject fault into disk %s: %w", diskID, err)
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("inject fault into disk %s: %s", diskID, strings.TrimSpace(out))
	}
	return nil
}

// PlugDisk pushes a new virtio disk into the first empty slot (see
// Machine.EmptySlots): its image is created (sparse) if missing, its block
// nodes added, then the device, which the guest's pciehp announces as a
// new block device. d.Kind must be virtio or NVMe; its ID must be new.
func (vm *VM) PlugDisk(ctx context.Context, d Disk) error {
	m := vm.m.withDefaults()
	if d.Kind == "" {
		d.Kind = DiskVirtio
	}
	if !d.isPCI() {
		return fmt.Errorf("plug disk %s: only virtio and NVMe disks can be hot-plugged", d.ID)
	}
	if d.Serial == "" {
		d.Serial = d.ID
	}
	if d.Path == "" {
		d.Path = filepath.Join(m.Dir, d.ID+".img")
	}
	vm.plugMu.Lock()
	defer vm.plugMu.Unlock()
	if _, err := vm.disk(d.ID); err == nil || vm.plugged[d.ID] {
		return fmt.Errorf("plug disk %s: the ID is in use", d.ID)
	}
	slot := len(vm.plugged)
	if slot >= m.EmptySlots {
		return fmt.Errorf("plug disk %s: no empty slot left (Machine.EmptySlots = %d)", d.ID, m.EmptySlots)
	}
	if err := prepareDisk(m.Dir, d); err != nil {
		return fmt.Errorf("plug: %w", err)
	}
	for _, node := range []map[string]any{
		{"driver": "file", "filename": d.Path, "node-name": fileNode(d.ID)},
		{"driver": "raw", "file": fileNode(d.ID), "node-name": rawNode(d.ID)},
	} {
		if _, err := vm.qmp.Execute(ctx, "blockdev-add", node); err != nil {
			return fmt.Errorf("plug disk %s: blockdev-add: %w", d.ID, err)
		}
	}
	driver := "virtio-blk-pci"
	if d.Kind == DiskNVMe {
		driver = "nvme"
	}
	props := map[string]any{"bus": emptySlotID(slot), "id": DiskDeviceID(d.ID), "drive": rawNode(d.ID), "serial": d.Serial}
	if err := vm.qmp.DeviceAdd(ctx, driver, props); err != nil {
		return fmt.Errorf("plug disk %s: %w", d.ID, err)
	}
	if vm.plugged == nil {
		vm.plugged = map[string]bool{}
	}
	vm.plugged[d.ID] = true
	return nil
}

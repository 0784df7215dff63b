// Package qemu describes and runs the virtual appliance: the Keep image booted
// on emulated hardware under QEMU, for the whole-system scenario tests and for
// `make run` (cmd/keep-vm).
//
// # What it owns
//
// One QEMU process per VM and everything in the VM's work directory (Dir):
// the disk images (<ID>.img, sparse, kept between runs when they exist), the
// blkdebug rules (<ID>.blkdebug.conf), the serial console log (console.log),
// QEMU's own output (qemu.log) and the QMP socket (qmp.sock). QEMU runs in its
// own process group with PR_SET_PDEATHSIG, so it dies with the test binary;
// VM.Close kills the group and waits for it, and is the one call every owner
// must make (tests: t.Cleanup(func() { vm.Close() })). No QEMU outlives its VM.
//
// # Describing a machine
//
// A Machine is a plain value: kernel, initramfs, command line, memory, CPUs,
// Dir, Disks (virtio, NVMe or SATA; optionally hot-pluggable or with fault
// injection), NICs (user-mode with host port forwards, or L2 links between
// VMs over TCP or unix sockets), the BMC, and Extra arguments as an escape
// hatch. Machine.Args turns it into QEMU's command line as a pure function;
// Machine.Start fills defaults, makes the disk images, picks free host ports
// for any port given as 0 (reported by VM.HostPort, VM.HostAddr and
// VM.ListenAddr), runs QEMU and connects QMP. Device names are stable so
// tests can address them: disks "disk-<ID>" behind root ports "rp-<ID>", NICs
// "nic-<ID>" with netdevs "net-<ID>", the BMC "bmc0".
//
// The guest side of the hardware:
//
//	DiskVirtio  /dev/vdX       serial in /sys/block/vdX/serial; hot-unplug with VM.UnplugDisk
//	DiskNVMe    /dev/nvmeNn1   SMART critical warning via QMP qom-set …/disk-<ID> smart_critical_warning
//	DiskSATA    /dev/sdX       ICH9 AHCI ports ide.0–ide.5, fixed ATA SMART table, no unplug
//	NICUser     10.0.2.15/24   gateway 10.0.2.2; host 127.0.0.1:<port> forwards to the guest
//	BMC         /dev/ipmi0     ipmi-bmc-sim on KCS, found through ACPI IPI0001 by ipmi_si
//
// Disk failures: VM.UnplugDisk (QMP device_del, virtio/NVMe, needs the guest's
// pciehp and takes ~6–10 s) or VM.InjectDiskFault (blkdebug: every later I/O
// fails with EIO, any bus, instant).
//
// The console is read from console.log (-serial file:): nothing is lost
// before anyone reads, and the host can read while QEMU writes. Console.Expect
// waits for a regexp after a cursor; on timeout, or when QEMU exits first, its
// error carries the last 40 console lines. Console.Follow streams the log.
// QMP is in the qmp sub-package: VM.QMP returns the VM's only client.
//
// # Facts it relies on (measured, see /work/shared/notes/qemu.md)
//
//   - No KVM: everything runs under TCG. -smp 1 is faster than -smp 2 on a
//     2-core host for boot and md resync, so CPUs defaults to 1; memory size
//     makes no difference.
//   - An uncompressed vmlinux boots PVH (first serial byte ~0.5 s vs ~3.3 s for
//     the XZ bzImage); Kernel may be either.
//   - "panic=-1" with -no-reboot (the default; Machine.Reboot drops it so a
//     guest reset reboots inside the same QEMU and its BMC keeps its state)
//     turns a guest panic or reset into a QEMU exit
//     with status 0, as does a guest power-off; QMP's SHUTDOWN event reason
//     ("guest-shutdown", "guest-reset", "host-qmp-quit") tells them apart.
//     QEMU sends SHUTDOWN before its reply to quit.
//   - "cryptomgr.notests=1" saves seconds of crypto self-tests under TCG.
//   - QMP device_del of a device behind a pcie-root-port only completes with
//     native PCIe hotplug (-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off);
//     with q35's default ACPI hotplug the guest never ejects. On pcie.0
//     nothing is hot-pluggable.
//   - -nodefaults keeps q35's built-in AHCI (ide.0–ide.5) and removes the
//     default CD-ROM, NIC, VGA and serial; the harness adds its own serial.
//   - blkdebug's "pwritev_zero" event, fired by an HMP qemu-io zero-write,
//     arms an EIO rule for all later I/O; the write itself fails, so the
//     image is untouched. qemu-io prints to QEMU's stdout (qemu.log), not
//     into the HMP reply.
//   - slirp host forwards and socket listeners fail QEMU's startup when the
//     port is taken; Start picks free ports and retries on that failure.
//   - A -netdev socket/stream client must start after its listener (7.2 has
//     no reconnect for these).
//
// # How it is tested
//
// Args by table tests (every disk kind, NIC kind, BMC, the hotplug global,
// invalid descriptions); the console against a log file appended
// concurrently; the QMP client against a fake QMP server on a unix socket
// (qmp/client_test.go). Then the real thing: vm_test.go boots the Debian
// kernel on the full hardware set, waits for its first console line, checks
// the port forward, the devices, fault injection and QMP quit, and that no
// process is left. Those tests fail — never skip — when QEMU or the kernel
// (env KEEP_QEMU, KEEP_KERNEL) is missing: run `make deps`.
package qemu

// Package appliance is the supervisor: it runs the boot sequence of
// DESIGN §3 and owns the service tree, the event journal, the log ring and
// the management API that `keep ctl` talks to.
//
// Boot stages, in order (Status.Stage):
//
//	mount     proc, sys, devtmpfs, /run, /tmp (PID 1 only)
//	config    built-in defaults < image defaults < keep.config= override
//	modules   the image's module list, with kernel command line parameters
//	services  the service tree starts: api, network (+ time), bmc,
//	          storage (assemble or create the array, xfs_repair -n,
//	          mount /vault), link-monitor, kernel-log
//	ready     every required service is running and the data vault is
//	          mounted: the console shows ReadyMarker and the health loop
//	          takes over
//	stopping  an orderly shutdown is under way
//
// Invariants:
//   - Nothing at boot is fatal to PID 1. A failed step is logged on the
//     console, recorded as an event, and keeps the box from being ready;
//     the API still comes up (it has no dependencies) so the NOC can see
//     why, in Status.NotReady.
//   - A rejected configuration never leaves the box unconfigured: it
//     runs on the previous layer (image defaults) and says so.
//   - Shutdown stops services in reverse dependency order before the
//     machine is powered off or rebooted, whatever asked for it (ACPI
//     power button, SIGTERM/SIGINT, Ctrl-Alt-Del, the API).
//   - The BMC watchdog runs on bmc.boot_timeout until the boot is over
//     (the ready or not-ready line), then on bmc.watchdog_timeout. It is
//     petted while every required service runs and is healthy. The
//     storage service counts as running once its bring-up has run,
//     whatever the vault's state: a box whose array is refused or whose
//     disks are missing is not ready (Status.NotReady says why) but is
//     not reset either, since a reset cannot bring disks back. (This
//     refines issue 4's "storage mounted" gate, which would make a
//     refused array a reset loop.)
//
// Outside PID 1 (Options.PID1 false: tests, a developer's machine) the
// appliance does not mount, load modules, touch the network or halt; it
// runs the same services otherwise. Unit tests run it that way; the QEMU
// scenarios in qemu/ prove the PID 1 path.
package appliance

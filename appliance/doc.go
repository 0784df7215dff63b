// Package appliance is the supervisor: it runs the boot sequence of
// DESIGN §3 and owns the service tree, the event journal, the log ring and
// the management API that `keep ctl` talks to.
//
// Boot stages, in order (Status.Stage):
//
//	mount     proc, sys, devtmpfs, /run, /tmp (PID 1 only)
//	config    built-in defaults < image defaults < keep.config= override
//	modules   the image's module list, with kernel command line parameters
//	services  the service tree starts (api, network, …)
//	ready     every required service is running: the console shows
//	          ReadyMarker and the health loop takes over
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
//
// Outside PID 1 (Options.PID1 false: tests, a developer's machine) the
// appliance does not mount, load modules, touch the network or halt; it
// runs the same services otherwise. Unit tests run it that way; the QEMU
// scenarios in qemu/ prove the PID 1 path.
package appliance

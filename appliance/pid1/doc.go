// Package pid1 does what only the first process of a Linux system must
// do: mount the kernel's virtual filesystems, reap orphaned children, turn
// the ACPI power button and Ctrl-Alt-Del into an orderly shutdown, and
// finally power off or reboot the machine.
//
// The kernel panics if PID 1 exits, so nothing here exits the process:
// failures are returned to the supervisor, which reports them on the
// console and in the API and keeps running.
//
// Hardware and kernel access goes through root paths (SysRoot, DevRoot)
// and small function fields, so unit tests run against fake trees; the
// real thing is proven by the QEMU scenarios in qemu/ (boot, power button,
// shutdown order).
package pid1

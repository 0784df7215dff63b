// Command keep-vm boots the Keep appliance under QEMU in the foreground, for
// `make run`: six sparse virtio data disks, the simulated BMC and one user-mode
// NIC that forwards the management API port to the host. The serial console is
// streamed to stdout; messages from keep-vm itself go to stderr.
//
// Ctrl-C (SIGINT or SIGTERM) presses the ACPI power button: the appliance shuts
// down in order and powers off. If it has not within 60 s, or on a second
// Ctrl-C, QEMU is killed. The exit code is QEMU's (128+signal if it was killed).
//
// Disk images persist in -dir between runs, like the disks of a real box.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"keep/qemu"
)

const (
	powerdownGrace  = 60 * time.Second
	startTimeout    = 60 * time.Second
	qmpTimeout      = 5 * time.Second
	exitCodeFailure = 1
)

type options struct {
	qemuBin, kernel, initrd, dir, appendArgs string
	disks, apiPort, agentPort, memMB         int
	diskMiB                                  int64
	bmc                                      bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.StringVar(&o.qemuBin, "qemu", qemu.DefaultQEMU, "QEMU binary")
	flag.StringVar(&o.kernel, "kernel", envOr("KEEP_KERNEL", "/boot/vmlinuz-6.1.0-56-amd64"), "kernel image (vmlinux boots faster than bzImage); env KEEP_KERNEL")
	flag.StringVar(&o.initrd, "initrd", os.Getenv("KEEP_INITRD"), "the Keep initramfs image (required); env KEEP_INITRD")
	flag.StringVar(&o.dir, "dir", "build/vm", "work directory: disk images, console.log, qemu.log, qmp.sock")
	flag.StringVar(&o.appendArgs, "append", "", "extra kernel command line")
	flag.IntVar(&o.disks, "disks", 6, "number of virtio data disks")
	flag.Int64Var(&o.diskMiB, "disk-mib", 1024, "size of each data disk in MiB (sparse; existing images are kept)")
	flag.IntVar(&o.apiPort, "api-port", qemu.APIGuestPort, "host port forwarded to the API (guest port 8080); 0 picks a free one")
	flag.IntVar(&o.agentPort, "agent-port", qemu.AgentGuestPort, "host port forwarded to the engine's agent listener (guest port 7443); 0 picks a free one")
	flag.IntVar(&o.memMB, "mem", qemu.DefaultMemoryMB, "guest memory in MiB")
	flag.BoolVar(&o.bmc, "bmc", true, "attach the simulated IPMI BMC")
	flag.Parse()
	if o.initrd == "" {
		fmt.Fprintln(os.Stderr, "keep-vm: -initrd is required (build the image first, e.g. `make image`)")
		return 2
	}
	code, err := boot(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keep-vm: %v\n", err)
		return exitCodeFailure
	}
	return code
}

// appliance describes the default appliance for the options.
func appliance(o options) qemu.Machine {
	m := qemu.Appliance(qemu.ApplianceSpec{
		Kernel: o.kernel, Initrd: o.initrd, Dir: o.dir,
		Disks: o.disks, DiskBytes: o.diskMiB << 20,
		APIHostPort: o.apiPort, AgentHostPort: o.agentPort, Append: strings.Fields(o.appendArgs), BMC: o.bmc,
	})
	m.QEMU, m.MemoryMB = o.qemuBin, o.memMB
	return m
}

// boot runs the appliance until QEMU exits and returns the exit code to use.
func boot(o options) (int, error) {
	// Subscribe before starting so no signal is lost or kills us mid-start.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	startCtx, cancelStart := context.WithTimeout(context.Background(), startTimeout)
	vm, err := appliance(o).Start(startCtx)
	cancelStart()
	if err != nil {
		return 0, err
	}
	defer vm.Close()

	followCtx, stopFollow := context.WithCancel(context.Background())
	defer stopFollow()
	followed := make(chan error, 1)
	go func() { followed <- vm.Console().Follow(followCtx, os.Stdout) }()

	api, err := vm.HostAddr(qemu.APINIC, qemu.APIGuestPort)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "keep-vm: QEMU pid %d, work dir %s (console.log, qemu.log, qmp.sock)\n", vm.PID(), vm.Machine().Dir)
	fmt.Fprintf(os.Stderr, "keep-vm: management API: keep ctl --addr %s status\n", api)
	if agents, err := vm.HostAddr(qemu.APINIC, qemu.AgentGuestPort); err == nil {
		fmt.Fprintf(os.Stderr, "keep-vm: agents: keep ctl --addr %s enrol CLIENT --address %s, then keep-agent enrol TOKEN\n", api, agents)
	}
	fmt.Fprintln(os.Stderr, "keep-vm: Ctrl-C powers the appliance down (twice: kill)")

	st := supervise(vm, sigs)
	if err := <-followed; err != nil {
		fmt.Fprintf(os.Stderr, "keep-vm: console: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "keep-vm: QEMU %s\n", st)
	if err := vm.Close(); err != nil {
		return 0, err
	}
	if st.Signal != 0 {
		return 128 + int(st.Signal), nil
	}
	return st.Code, nil
}

// supervise waits for QEMU to exit, turning the first signal into an ACPI
// power-button press and a second one, or the grace period running out, into
// a kill.
func supervise(vm *qemu.VM, sigs <-chan os.Signal) qemu.ExitStatus {
	var grace <-chan time.Time
	poweringDown := false
	for {
		select {
		case <-vm.Exited():
			st, _ := vm.Wait(context.Background()) // already exited: returns at once
			return st
		case s := <-sigs:
			if poweringDown {
				fmt.Fprintf(os.Stderr, "\nkeep-vm: %v again: killing QEMU\n", s)
				kill(vm)
				continue
			}
			poweringDown = true
			fmt.Fprintf(os.Stderr, "\nkeep-vm: %v: pressing the power button; waiting up to %v (Ctrl-C again kills)\n", s, powerdownGrace)
			if err := powerdown(vm); err != nil {
				fmt.Fprintf(os.Stderr, "keep-vm: power button: %v: killing QEMU\n", err)
				kill(vm)
				continue
			}
			grace = time.After(powerdownGrace)
		case <-grace:
			fmt.Fprintf(os.Stderr, "keep-vm: the appliance did not power off within %v: killing QEMU\n", powerdownGrace)
			kill(vm)
		}
	}
}

func powerdown(vm *qemu.VM) error {
	ctx, cancel := context.WithTimeout(context.Background(), qmpTimeout)
	defer cancel()
	return vm.QMP().SystemPowerdown(ctx)
}

func kill(vm *qemu.VM) {
	if err := vm.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(os.Stderr, "keep-vm: %v\n", err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

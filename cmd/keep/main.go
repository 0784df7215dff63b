// Command keep is the Keep appliance firmware: `keep init` is PID 1 (the
// image's /init), `keep ctl …` is the management CLI, and invoked as
// modprobe it answers the kernel's module requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"keep/appliance"
	"keep/appliance/kmod"
	"keep/appliance/pid1"
	"keep/internal/gctune"
)

// version is the firmware version shown by `keep version` and the API.
const version = "0.1.0-dev"

func main() {
	gctune.Apply()
	if filepath.Base(os.Args[0]) == "modprobe" {
		os.Exit(modprobeMain(os.Args[1:]))
	}
	if pid1.IsPID1() {
		initMain()
		return
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "init":
		initMain(os.Args[2:]...)
	case "ctl":
		os.Exit(ctlMain(os.Args[2:]))
	case "version":
		fmt.Println("keep", version)
	case "testdata":
		os.Exit(testdataMain(os.Args[2:]))
	case "engine":
		os.Exit(engineMain(os.Args[2:]))
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "keep: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  keep init                 boot and supervise the appliance (the image's /init)
  keep ctl [flags] COMMAND  manage a running appliance; keep ctl -h lists commands
  keep engine --data DIR [--listen :7443] [--api SOCKET] [--passphrase-file F]
                            hosted mode: the backup engine on a directory, managed with
                            keep ctl --socket SOCKET (default DIR/api.sock)
  keep version
  keep testdata write PATH MIB | sum PATH   write or checksum test data (QEMU scenarios)
`)
}

// modprobeMain answers the kernel's request_module ("modprobe -q --
// ALIAS"). The kernel gives it no console, so the outcome goes to the
// kernel log (/dev/kmsg), where `keep ctl logs kernel` shows it.
func modprobeMain(args []string) int {
	err := kmod.Modprobe(context.Background(), args, os.Stderr)
	if kmsg, kerr := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); kerr == nil {
		outcome := "loaded"
		if err != nil {
			outcome = "failed: " + err.Error()
		}
		// <6> is KERN_INFO: in the log, not on a quiet console.
		fmt.Fprintf(kmsg, "<6>keep-modprobe: %s: %s\n", strings.Join(args, " "), outcome)
		kmsg.Close()
	}
	if err != nil {
		return 1
	}
	return 0
}

// initMain runs the appliance. As PID 1 it never returns: after an
// orderly shutdown it halts the machine, and if even that fails it stays
// alive (PID 1 exiting panics the kernel).
func initMain(args ...string) {
	isPID1 := pid1.IsPID1()
	opts := appliance.Options{Version: version, PID1: isPID1}
	if isPID1 {
		opts.TestMarker = "/etc/keep/test-image"
	}
	fs := flag.NewFlagSet("keep init", flag.ExitOnError)
	fs.StringVar(&opts.ConfigPath, "config", "", "defaults file (default /etc/keep/keep.yaml)")
	fs.Parse(args) // ExitOnError: never returns an error
	if isPID1 {
		// Go's default for these is to exit; PID 1 must not. SIGHUP has
		// no meaning here; SIGTERM and SIGINT are ignored until the
		// appliance watches them (its signal.Notify undoes Ignore), and
		// again once it has finished.
		signal.Ignore(syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "keep: PANIC in init: %v\n%s\nkeep: staying up so the console stays readable; power-cycle the box\n", r, debug.Stack())
				hang()
			}
		}()
	}
	action, err := appliance.Run(context.Background(), opts)
	if isPID1 {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keep: %v\n", err)
	}
	if !isPID1 {
		if err != nil {
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "keep: %s now\n", action)
	if err := pid1.Halt(action); err != nil {
		fmt.Fprintf(os.Stderr, "keep: %v\n", err)
	}
	hang()
}

// hang keeps PID 1 alive without a deadlock (a bare select{} with no
// other goroutine is a fatal error in Go).
func hang() {
	for {
		time.Sleep(time.Hour)
	}
}

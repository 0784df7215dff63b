// Command mkimage builds the Keep initramfs image (see package keep/image):
//
//	mkimage -keep build/keep -modules /lib/modules/6.1.0-56-amd64 \
//	    -config image/keep.yaml -o build/keep.img [-test] \
//	    [-vmlinux-from /boot/vmlinuz-6.1.0-56-amd64 -vmlinux-out build/vmlinux]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"keep/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var s image.Spec
	var vmlinuxFrom, vmlinuxOut string
	fl.StringVar(&s.Keep, "keep", "", "path of the static keep binary (becomes /init)")
	fl.StringVar(&s.ModulesDir, "modules", "", "kernel module tree, /lib/modules/<release>")
	fl.StringVar(&s.Config, "config", "", "default appliance config (becomes /etc/keep/keep.yaml)")
	fl.StringVar(&s.Output, "o", "", "image file to write (zstd-compressed cpio)")
	fl.BoolVar(&s.Test, "test", false, "build the QEMU test image: adds the oracle tools (mdadm, smartctl, ipmitool) and the test API; never ship it")
	fl.StringVar(&vmlinuxFrom, "vmlinux-from", "", "bzImage to extract an ELF vmlinux from, e.g. /boot/vmlinuz-<release>")
	fl.StringVar(&vmlinuxOut, "vmlinux-out", "", "where to write the extracted vmlinux")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	switch {
	case s.Keep == "":
		return errors.New("-keep is required (build the keep binary first: make build)")
	case s.ModulesDir == "":
		return errors.New("-modules is required, e.g. -modules /lib/modules/6.1.0-56-amd64")
	case s.Config == "":
		return errors.New("-config is required: the default appliance config (keep.yaml)")
	case s.Output == "":
		return errors.New("-o is required: the image file to write")
	case (vmlinuxFrom == "") != (vmlinuxOut == ""):
		return errors.New("-vmlinux-from and -vmlinux-out go together")
	}
	res, err := image.Build(ctx, s)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	if vmlinuxFrom == "" {
		return nil
	}
	fresh, err := image.ExtractVmlinux(ctx, vmlinuxFrom, vmlinuxOut)
	if err != nil {
		return err
	}
	state := "extracted"
	if !fresh {
		state = "up to date"
	}
	fmt.Fprintf(stdout, "vmlinux %s: %s from %s\n", vmlinuxOut, state, vmlinuxFrom)
	return nil
}

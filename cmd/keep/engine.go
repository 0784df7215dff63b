package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"keep/appliance"
)

// engineMain runs hosted mode: the engine service and the API on a
// directory, outside the appliance (a developer's machine, the tests and
// the benchmarks). It stops on SIGINT or SIGTERM.
func engineMain(args []string) int {
	fs := flag.NewFlagSet("keep engine", flag.ContinueOnError)
	data := fs.String("data", "", "the engine's directory (created on first use)")
	listen := fs.String("listen", ":7443", "TCP address agents connect to")
	sock := fs.String("api", "", "API Unix socket (default DATA/api.sock)")
	pass := fs.String("passphrase-file", "", "file holding the passphrase (default: one the engine makes in DATA)")
	cfgFile := fs.String("config", "", "a keep.yaml for the log level and the engine section (default: built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *data == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: keep engine --data DIR [--listen :7443] [--api SOCKET] [--passphrase-file F] [--config keep.yaml]")
		return 2
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keep engine:", err)
		return 1
	}
	if *sock == "" {
		*sock = filepath.Join(dir, "api.sock")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "keep engine:", err)
		return 1
	}
	cfgPath := appliance.NoConfigFile
	if *cfgFile != "" {
		cfgPath = *cfgFile
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err = appliance.Run(ctx, appliance.Options{
		Version:      version,
		ConfigPath:   cfgPath,
		Cmdline:      filepath.Join(dir, "no-kernel-cmdline"),
		APISocket:    *sock,
		HostedEngine: &appliance.HostedEngine{Dir: dir, Listen: *listen, PassphraseFile: *pass},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "keep engine:", err)
		return 1
	}
	return 0
}

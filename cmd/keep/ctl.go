package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"keep/appliance/api"
	"keep/appliance/service"
)

const ctlUsage = `usage: keep ctl [--socket PATH | --addr HOST:PORT [--cert FILE --key FILE --ca FILE [--server-name NAME]]]
                [--json] COMMAND

The API answers on its Unix socket (on the box), on a plain TCP address
(--addr: the service LAN, tests), and on the NOC listener through the tunnel
(--addr with a NOC operator certificate --cert and its key --key; --ca is the
CA that signed the API's certificate, --server-name the name it holds when
the address is not).

commands:
  status                      uptime, boot stage, readiness and services
  services                    services with state, restarts and health
  restart SERVICE             restart a service (a failed one starts afresh)
  events [--severity S] [--source S] [--kind PREFIX] [--since 10m] [-n N]
  logs [SERVICE] [-n N]       recent log lines, of one service or all ("kernel": the kernel log)
  net                         links, addresses, counters, routes, DHCP leases, DNS
  net apply FILE [--confirm-within 120s]
                              apply a network section; rolled back unless confirmed in time
  net confirm | net revert    keep (and persist) or roll back the configuration on probation
  net history [-n N]          sampled traffic rates per link
  disks                       disks: identity, size, transport, role, array membership
  raid                        the data array: state, members, sync progress, filesystem
  raid scrub [--repair]       start a check (or repair) of the whole array
  raid replace DISK           copy a member onto a spare, then fail it out
  bmc [--all | -n N]          BMC: watchdog, last reset cause, sensors, SEL (newest 20), FRU, LAN
  tunnel [initiate | terminate | rekey [--ike]]
                              the NOC tunnel: state, fail-closed networks, IKE and CHILD SAs
                              (SPIs, algorithms, lifetimes, byte counters, last DPD)
  engine                      the backup engine: key, store size, clients, running jobs
  engine recovery-key [--forget]
                              show the recovery key made at creation (then --forget it on the box)
  engine passphrase (--from-file FILE | --generate)
                              re-wrap the master key under a new passphrase (nothing re-encrypted)
  jobs [ID] [--client C] [--state S] [-n N]
                              backup, restore and verify job records (one in full with its ID)
  snapshots [--client C] [--path P] [--since 24h]
                              snapshots, newest first
  clients                     agents' client names: certificates, revocations, pending tokens
  enrol CLIENT [--ttl 24h] [--address HOST:PORT]
                              print a one-time token for keep-agent enrol
  revoke CLIENT               revoke every certificate of a client
  grant-restore CLIENT --from OWNER [--ttl 24h | --revoke]
                              let CLIENT list and restore OWNER's snapshots for a while
                              (keep-agent ... --client OWNER on CLIENT); --revoke ends it
  grants                      grants in force: which client may read whose snapshots, until when
  synthetic-full CLIENT [--snapshot ID]
                              a full backup made on the vault from what it holds
  verify [--sample N%]        re-read and authenticate stored data (default all); names damage
  ls SNAPSHOT [PATH] [--client C]
                              list a directory of a snapshot (SNAPSHOT: an ID prefix, or latest
                              of --client); PATH: an original path (/srv/www) or as ls prints it
  find PATTERN [--client C] [--path P] [-n N]
                              find items by name across snapshots (*.conf, /www/**/index.html)
  cat SNAPSHOT PATH [--client C] [-o FILE]
                              download one file of a snapshot (to stdout, or FILE whole or not
                              at all); recorded as a restore job of the snapshot's client
  shutdown                    stop services in order, then power off
  reboot                      stop services in order, then reboot
  test-exec PROGRAM [ARGS]    test images only: run an oracle tool in the guest, exit with its code

flags:
`

// ctlMain runs `keep ctl` and returns the exit code.
func ctlMain(args []string) int {
	fs := flag.NewFlagSet("keep ctl", flag.ContinueOnError)
	addr := fs.String("addr", "", "API TCP address (host:port); default: the Unix socket")
	socket := fs.String("socket", "/run/keep/api.sock", "API Unix socket")
	var cc api.ClientCredentials
	fs.StringVar(&cc.CertFile, "cert", "", "NOC operator certificate (PEM, leaf first), for the NOC listener at --addr")
	fs.StringVar(&cc.KeyFile, "key", "", "the private key of --cert (PEM)")
	fs.StringVar(&cc.CAFile, "ca", "", "CA certificates (PEM) the API's certificate must be signed by")
	fs.StringVar(&cc.ServerName, "server-name", "", "name the API's certificate must hold; default: the host of --addr")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() { fmt.Fprint(os.Stderr, ctlUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c, err := ctlClient(*addr, *socket, cc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keep ctl: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "timeout" })
	switch fs.Arg(0) {
	case "verify", "cat":
		if !explicit {
			// A verify reads the whole store, a download a whole
			// file: no 10 s default.
			*timeout = 24 * time.Hour
		}
	case "ls", "find":
		if !explicit {
			// Trees of many snapshots, a huge directory.
			*timeout = 10 * time.Minute
		}
	}
	// Interrupted, a command ends its work on the way out (cat -o
	// removes its partial file).
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, *timeout)
	defer cancel()
	out := &ctlOut{w: os.Stdout, json: *asJSON}
	if err := runCtl(ctx, c, out, fs.Arg(0), fs.Args()[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "keep ctl %s: %v\n", fs.Arg(0), err)
		return 1
	}
	return out.code
}

// usageError is a wrong combination of flags (exit code 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// ctlClient picks the API endpoint: the NOC listener at addr when any TLS
// flag is given (mutual TLS with cc), else plain TCP at addr, else the
// Unix socket.
func ctlClient(addr, socket string, cc api.ClientCredentials) (*api.Client, error) {
	tlsFlags := cc != api.ClientCredentials{}
	switch {
	case !tlsFlags && addr != "":
		return api.NewTCPClient(addr), nil
	case !tlsFlags:
		return api.NewUnixClient(socket), nil
	case addr == "":
		return nil, usageError("--cert, --key, --ca and --server-name are for the NOC listener: name it with --addr HOST:PORT (the Unix socket needs none)")
	case (cc.CertFile == "") != (cc.KeyFile == ""):
		return nil, usageError("--cert and --key go together: the NOC operator certificate and its private key")
	case cc.CAFile == "":
		return nil, usageError("--ca FILE is required with --cert, --key and --server-name: the CA that signed the API's certificate")
	}
	return api.NewNOCClient(addr, cc)
}

type ctlOut struct {
	w    io.Writer
	json bool
	// code is the exit code: status exits 3 when the box is not ready,
	// so scripts can test readiness.
	code int
}

func (o *ctlOut) printJSON(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runCtl(ctx context.Context, c *api.Client, out *ctlOut, cmd string, args []string) error {
	switch cmd {
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if !st.Ready {
			out.code = 3
		}
		if out.json {
			return out.printJSON(st)
		}
		printStatus(out.w, st)
		return nil
	case "services":
		ss, err := c.Services(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(ss)
		}
		printServices(out.w, ss)
		return nil
	case "restart":
		if len(args) != 1 {
			return fmt.Errorf("name one service: keep ctl restart SERVICE")
		}
		if err := c.RestartService(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(out.w, "restarting %s\n", args[0])
		return nil
	case "events":
		return ctlEvents(ctx, c, out, args)
	case "logs":
		return ctlLogs(ctx, c, out, args)
	case "net":
		return ctlNet(ctx, c, out, args)
	case "shutdown", "reboot":
		if len(args) != 0 {
			return fmt.Errorf("takes no arguments")
		}
		f := c.Shutdown
		if cmd == "reboot" {
			f = c.Reboot
		}
		a, err := f(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(out.w, a.Message)
		return nil
	case "disks", "raid":
		return ctlStorage(ctx, c, out, cmd, args)
	case "bmc":
		return ctlBMC(ctx, c, out, args)
	case "tunnel":
		return ctlTunnel(ctx, c, out, args)
	case "engine", "jobs", "snapshots", "clients", "enrol", "revoke", "verify", "grant-restore", "grants", "synthetic-full", "ls", "find", "cat":
		return ctlEngine(ctx, c, out, cmd, args)
	case "test-exec":
		if len(args) == 0 {
			return fmt.Errorf("name a program: keep ctl test-exec mdadm --detail /dev/md127")
		}
		deadline, _ := ctx.Deadline()
		res, err := c.TestExec(ctx, api.ExecRequest{Argv: args, TimeoutSeconds: max(1, int(time.Until(deadline).Seconds())-1)})
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(res)
		}
		io.WriteString(out.w, res.Stdout)
		io.WriteString(os.Stderr, res.Stderr)
		out.code = res.ExitCode
		return nil
	default:
		return fmt.Errorf("unknown command; keep ctl -h lists them")
	}
}

func printStatus(w io.Writer, st api.Status) {
	ready := "yes"
	if !st.Ready {
		ready = "NO"
	}
	fmt.Fprintf(w, "hostname:  %s\nversion:   %s\nboot:      %s\nuptime:    %s\nstage:     %s\nready:     %s\nconfig:    %s\n",
		st.Hostname, st.Version, st.Boot, (time.Duration(st.UptimeSeconds * float64(time.Second))).Round(time.Second),
		st.Stage, ready, strings.Join(st.ConfigSources, " < "))
	for _, r := range st.NotReady {
		fmt.Fprintf(w, "  why:     %s\n", r)
	}
	if b := st.BMC; b != nil && (b.ProductSerial != "" || b.BoardSerial != "") {
		fmt.Fprintf(w, "identity:  %s serial %s (board %s serial %s)\n", b.ProductName, b.ProductSerial, b.BoardProduct, b.BoardSerial)
	}
	fmt.Fprintln(w)
	printServices(w, st.Services)
}

func printServices(w io.Writer, ss []service.ServiceStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tRESTARTS\tHEALTH\tSINCE\tDETAIL")
	for _, s := range ss {
		health := "-"
		if s.Health != nil {
			health = "ok"
			if !s.Health.OK {
				health = "failing: " + s.Health.Message
			}
		}
		detail := s.Detail
		if s.LastError != "" {
			detail = strings.TrimSpace(detail + " last error: " + s.LastError)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.State, s.Restarts, health, s.Since.Format("15:04:05"), detail)
	}
	tw.Flush()
}

func ctlEvents(ctx context.Context, c *api.Client, out *ctlOut, args []string) error {
	fs := flag.NewFlagSet("keep ctl events", flag.ContinueOnError)
	var q api.EventQuery
	fs.StringVar(&q.Severity, "severity", "", "minimum severity: debug, info, notice, warning, error, critical")
	fs.StringVar(&q.Source, "source", "", "only events from this source (supervisor, boot, …)")
	fs.StringVar(&q.Kind, "kind", "", "only events whose kind starts with this (service., raid.)")
	fs.DurationVar(&q.Since, "since", 0, "only events newer than this (10m, 2h)")
	fs.IntVar(&q.Limit, "n", 100, "at most this many (the newest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	evs, err := c.Events(ctx, q)
	if err != nil {
		return err
	}
	if out.json {
		return out.printJSON(evs)
	}
	tw := tabwriter.NewWriter(out.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSEVERITY\tSOURCE\tKIND\tMESSAGE")
	for _, e := range evs {
		msg := e.Message
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			msg += fmt.Sprintf(" %s=%s", k, e.Fields[k])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format("15:04:05.000"), e.Severity, e.Source, e.Kind, msg)
	}
	return tw.Flush()
}

func ctlLogs(ctx context.Context, c *api.Client, out *ctlOut, args []string) error {
	fs := flag.NewFlagSet("keep ctl logs", flag.ContinueOnError)
	n := fs.Int("n", 200, "at most this many lines (the newest)")
	// Accept the service name before or after the flags.
	var logger string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		logger, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 && logger == "" {
		logger = fs.Arg(0)
	}
	r, err := c.Logs(ctx, logger, *n)
	if err != nil {
		return err
	}
	if out.json {
		return out.printJSON(r)
	}
	for _, l := range r.Lines {
		fmt.Fprintf(out.w, "%s [%s] %s: %s", l.Time.Format("15:04:05.000"), strings.ToUpper(l.Level), l.Logger, l.Message)
		keys := make([]string, 0, len(l.Fields))
		for k := range l.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out.w, " %s=%s", k, l.Fields[k])
		}
		fmt.Fprintln(out.w)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(out.w, "(%d older lines dropped from the ring)\n", r.Dropped)
	}
	return nil
}

func printNetwork(w io.Writer, n api.Network) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINK\tKIND\tSTATE\tMTU\tMAC\tADDRESSES\tRX\tTX\tERRORS")
	for _, l := range n.Links {
		state := "down"
		switch {
		case l.Up && l.Carrier:
			state = "up"
		case l.Up:
			state = "no-carrier"
		}
		if l.Master != "" {
			state += " (in " + l.Master + ")"
		}
		addrs := strings.Join(l.Addresses, ",")
		if addrs == "" {
			addrs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d B\t%d B\t%d\n", l.Name, l.Kind, state, l.MTU, l.MAC, addrs,
			l.Counters.RxBytes, l.Counters.TxBytes, l.Counters.RxErrors+l.Counters.TxErrors)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tVIA\tDEV\tMETRIC")
	for _, r := range n.Routes {
		via := r.Via
		if via == "" {
			via = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.To, via, r.Dev, r.Metric)
	}
	tw.Flush()
	for _, l := range n.Leases {
		fmt.Fprintf(w, "\ndhcp %s: %s via %s from %s, obtained %s, expires %s, renewed %d times\n", l.Link, l.Address, l.Router,
			l.Server, l.Obtained.Format(time.RFC3339), l.Expires.Format(time.RFC3339), l.Renewals)
	}
	if len(n.DNS) > 0 {
		fmt.Fprintf(w, "\ndns: %s\n", strings.Join(n.DNS, " "))
	}
	printNetworkExtra(w, n)
}

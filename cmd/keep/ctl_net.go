package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"keep/appliance/api"
)

// ctlNet is `keep ctl net [apply|confirm|revert|history]`.
func ctlNet(ctx context.Context, c *api.Client, out *ctlOut, args []string) error {
	if len(args) == 0 {
		n, err := c.Network(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(n)
		}
		printNetwork(out.w, n)
		return nil
	}
	switch args[0] {
	case "apply":
		fs := flag.NewFlagSet("keep ctl net apply", flag.ContinueOnError)
		within := fs.Duration("confirm-within", 0, "roll back unless `keep ctl net confirm` comes within this long (0: keep at once)")
		// Accept the file before or after the flags.
		rest := args[1:]
		var file string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			file, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if file == "" && fs.NArg() == 1 {
			file = fs.Arg(0)
		}
		if file == "" {
			return fmt.Errorf("name a file: keep ctl net apply FILE --confirm-within 120s (- reads standard input)")
		}
		var b []byte
		var err error
		if file == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(file)
		}
		if err != nil {
			return err
		}
		res, err := c.ApplyNetwork(ctx, string(b), *within)
		if err != nil {
			return err
		}
		return printApply(out, res)
	case "confirm", "revert":
		f := c.ConfirmNetwork
		if args[0] == "revert" {
			f = c.RevertNetwork
		}
		res, err := f(ctx)
		if err != nil {
			return err
		}
		return printApply(out, res)
	case "history":
		fs := flag.NewFlagSet("keep ctl net history", flag.ContinueOnError)
		n := fs.Int("n", 12, "the newest N samples of each link (0: all)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		h, err := c.NetworkHistory(ctx, *n)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(h)
		}
		names := make([]string, 0, len(h.Links))
		for l := range h.Links {
			names = append(names, l)
		}
		sort.Strings(names)
		tw := tabwriter.NewWriter(out.w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "LINK\tTIME\tRX\tTX\tRX PKT/S\tTX PKT/S\tERR/S\t(every %s)\n", h.Interval)
		for _, l := range names {
			for _, r := range h.Links[l] {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t\n", l, r.Time.Format("15:04:05"), bitRate(r.RxBps), bitRate(r.TxBps), r.RxPps, r.TxPps, r.Errors)
			}
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown net command %q: net, net apply FILE, net confirm, net revert, net history", args[0])
}

func printApply(out *ctlOut, res api.NetworkApplyResult) error {
	if out.json {
		return out.printJSON(res)
	}
	fmt.Fprintf(out.w, "%s: %d change(s)\n", res.Outcome, len(res.Changes))
	for _, c := range res.Changes {
		fmt.Fprintf(out.w, "  %s\n", c)
	}
	if !res.Deadline.IsZero() {
		fmt.Fprintf(out.w, "rolled back at %s (in %s) unless `keep ctl net confirm`\n", res.Deadline.Format(time.RFC3339),
			time.Until(res.Deadline).Round(time.Second))
	}
	switch {
	case res.Persisted != "":
		fmt.Fprintf(out.w, "persisted to %s\n", res.Persisted)
	case res.Outcome == "confirmed" || res.Outcome == "applied":
		fmt.Fprintln(out.w, "kept in memory only (no data vault mounted): the next boot runs the boot configuration")
	}
	if res.Message != "" {
		fmt.Fprintf(out.w, "%s\n", res.Message)
	}
	return nil
}

// bitRate formats bytes per second as bits per second.
func bitRate(bps float64) string {
	b := bps * 8
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", b/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", b)
}

// printNetworkExtra shows bonds, rates, time and a pending change.
func printNetworkExtra(w io.Writer, n api.Network) {
	for _, l := range n.Links {
		if b := l.Bond; b != nil {
			var members []string
			for _, m := range n.Links {
				if m.Master == l.Name {
					members = append(members, m.Name)
				}
			}
			fmt.Fprintf(w, "\nbond %s: %s, miimon %d ms, active %s, primary %s, members %s\n", l.Name, b.Mode, b.MIIMon,
				orDash(b.ActiveSlave), orDash(b.Primary), strings.Join(members, ","))
		}
		if v := l.VLAN; v != nil {
			fmt.Fprintf(w, "\nvlan %s: id %d on %s\n", l.Name, v.ID, v.Link)
		}
	}
	if len(n.Rates) > 0 {
		fmt.Fprintf(w, "\nrates (last %s):\n", n.RateInterval)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LINK\tRX\tTX\tRX PKT/S\tTX PKT/S\tERR/S")
		for _, r := range n.Rates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\n", r.Link, bitRate(r.RxBps), bitRate(r.TxBps), r.RxPps, r.TxPps, r.Errors)
		}
		tw.Flush()
	}
	if t := n.Time; t != nil {
		state := "NOT synchronised"
		if t.Synced {
			state = fmt.Sprintf("synchronised to %s (stratum %d, offset %s, delay %s)", t.Server, t.Stratum, t.Offset, t.Delay)
		} else if t.Error != "" {
			state += ": " + t.Error
		}
		fmt.Fprintf(w, "\ntime: %s; servers %s\n", state, orDash(strings.Join(t.Servers, " ")))
	}
	if p := n.Pending; p != nil {
		fmt.Fprintf(w, "\nPENDING: a configuration is on probation since %s; rolled back at %s unless `keep ctl net confirm`\n",
			p.Since.Format(time.RFC3339), p.Deadline.Format(time.RFC3339))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"keep/appliance/api"
)

// ctlBMCNewest is how many SEL entries `keep ctl bmc` shows without --all.
const ctlBMCNewest = 20

// ctlBMC is `keep ctl bmc [--all | -n N]`.
func ctlBMC(ctx context.Context, c *api.Client, out *ctlOut, args []string) error {
	n := ctlBMCNewest
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--all":
			n = 0
		case args[i] == "-n" && i+1 < len(args):
			v, err := strconv.Atoi(args[i+1])
			if err != nil || v < 1 {
				return fmt.Errorf("-n wants a positive number, got %q", args[i+1])
			}
			n = v
			i++
		default:
			return fmt.Errorf("usage: keep ctl bmc [--all | -n N]")
		}
	}
	d, err := c.BMC(ctx, n)
	if err != nil {
		return err
	}
	if out.json {
		return out.printJSON(d)
	}
	printBMC(out.w, d)
	return nil
}

func printBMC(w io.Writer, d api.BMCDetail) {
	b := d.BMC
	if !b.Present {
		fmt.Fprintln(w, "no BMC: no hardware watchdog, SEL, sensors or FRU identity")
		return
	}
	fmt.Fprintf(w, "bmc:        firmware %s, IPMI %s, manufacturer %d, product %d\n", b.Firmware, b.IPMIVersion, b.Manufacturer, b.Product)
	if d.LastReset != "" {
		fmt.Fprintf(w, "last reset: %s\n", d.LastReset)
	}
	if wd := d.Watchdog; wd != nil {
		state := "stopped"
		if wd.Running {
			state = "running"
		}
		fmt.Fprintf(w, "watchdog:   %s, use %s, action %s, timeout %gs, remaining %gs, pre-timeout %s %ds",
			state, wd.Use, wd.Action, wd.TimeoutSeconds, wd.RemainingSeconds, wd.PreTimeout, wd.PreTimeoutSecs)
		if len(wd.Expired) > 0 {
			fmt.Fprintf(w, ", expired: %s", strings.Join(wd.Expired, ", "))
		}
		fmt.Fprintln(w)
	}
	if !b.LastPet.IsZero() {
		fmt.Fprintf(w, "last pet:   %s\n", b.LastPet.Format("15:04:05"))
	}
	if f := d.FRU; f != nil {
		fmt.Fprintf(w, "board:      %s %s, serial %s, part %s\n", f.BoardManufacturer, f.BoardProduct, f.BoardSerial, f.BoardPart)
		fmt.Fprintf(w, "product:    %s %s %s, serial %s, part %s\n", f.ProductManufacturer, f.ProductName, f.ProductVersion, f.ProductSerial, f.ProductPart)
	}
	switch {
	case d.LAN != nil:
		l := d.LAN
		fmt.Fprintf(w, "lan:        channel %d, %s %s/%s via %s, mac %s\n", l.Channel, l.Source, l.Address, l.Netmask, l.Gateway, l.MAC)
	case d.LANProblem != "":
		fmt.Fprintf(w, "lan:        %s\n", d.LANProblem)
	}
	for _, p := range d.Problems {
		fmt.Fprintf(w, "problem:    %s\n", p)
	}

	fmt.Fprintf(w, "\nsensors (read %s):\n", d.SensorsRead.Format("15:04:05"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUM\tNAME\tTYPE\tREADING\tSTATUS")
	for _, s := range d.Sensors {
		reading := fmt.Sprintf("raw 0x%02x", s.Raw)
		if s.Value != nil {
			reading = strconv.FormatFloat(*s.Value, 'f', -1, 64) + " " + s.Unit
		}
		status := s.Status
		if s.Error != "" {
			status += " (" + s.Error + ")"
		}
		fmt.Fprintf(tw, "0x%02x\t%s\t%s\t%s\t%s\n", s.Number, s.Name, s.Type, reading, status)
	}
	tw.Flush()

	if i := d.SELInfo; i != nil {
		fmt.Fprintf(w, "\nSEL: %d of %d entries used", i.Entries, i.Capacity)
		if i.Overflow {
			fmt.Fprint(w, ", OVERFLOWED")
		} else if i.AlmostFull {
			fmt.Fprint(w, ", almost full")
		}
		fmt.Fprintln(w)
	}
	if len(d.SEL) < d.SELTotal {
		fmt.Fprintf(w, "newest %d of %d entries (--all for all):\n", len(d.SEL), d.SELTotal)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSENSOR\tEVENT\tDIRECTION")
	for _, e := range d.SEL {
		dir := "Asserted"
		if !e.Asserted {
			dir = "Deasserted"
		}
		if e.SensorType == "" {
			fmt.Fprintf(tw, "%#04x\t%s\t%s\t%s\t\n", e.ID, e.Timestamp, e.Type, e.Raw)
			continue
		}
		fmt.Fprintf(tw, "%#04x\t%s\t%s #0x%02x\t%s\t%s\n", e.ID, e.Timestamp, e.SensorType, e.Sensor, e.Event, dir)
	}
	tw.Flush()
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"keep/appliance/api"
	"keep/raid/vault"
)

func ctlStorage(ctx context.Context, c *api.Client, out *ctlOut, cmd string, args []string) error {
	if cmd == "raid" && len(args) > 0 {
		switch args[0] {
		case "scrub":
			repair := len(args) == 2 && args[1] == "--repair"
			if len(args) > 2 || (len(args) == 2 && !repair) {
				return fmt.Errorf("usage: keep ctl raid scrub [--repair]")
			}
			a, err := c.Scrub(ctx, repair)
			if err != nil {
				return err
			}
			fmt.Fprintln(out.w, a.Message)
			return nil
		case "replace":
			if len(args) != 2 {
				return fmt.Errorf("usage: keep ctl raid replace DISK (an identity from keep ctl disks)")
			}
			a, err := c.ReplaceDisk(ctx, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(out.w, a.Message)
			return nil
		default:
			return fmt.Errorf("unknown raid command %q: scrub or replace", args[0])
		}
	}
	if len(args) != 0 {
		return fmt.Errorf("takes no arguments")
	}
	st, err := c.Storage(ctx)
	if err != nil {
		return err
	}
	if out.json {
		if cmd == "disks" {
			return out.printJSON(st.Disks)
		}
		return out.printJSON(st)
	}
	if cmd == "disks" {
		printDisks(out.w, st)
	} else {
		printRAID(out.w, st)
	}
	return nil
}

func printDisks(w io.Writer, st vault.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tNAME\tSIZE\tTRANSPORT\tMEDIA\tROLE\tARRAY\tSLOT\tHEALTH\tTEMP")
	for _, d := range st.Disks {
		media := "hdd"
		if !d.Rotational {
			media = "ssd"
		}
		slot := "-"
		if d.Slot >= 0 {
			slot = fmt.Sprint(d.Slot)
		}
		arr := d.Array
		if arr == "" {
			arr = "-"
		}
		health, temp := "-", "-"
		if h := d.Health; h != nil {
			health = h.Verdict
			if h.Verdict != "passed" && h.Verdict != "none" {
				health = h.Summary // starts with the verdict
			}
			if h.TemperatureC != nil {
				temp = fmt.Sprintf("%d°C", *h.TemperatureC)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, size(d.Bytes()), d.Transport, media, d.Role, arr, slot, health, temp)
	}
	tw.Flush()
}

func printRAID(w io.Writer, st vault.Status) {
	fmt.Fprintf(w, "storage: %s (tier %s)\n", st.State, st.Tier)
	if st.Problem != "" {
		fmt.Fprintf(w, "problem: %s\n", st.Problem)
	}
	if st.ArrayName != "" {
		fmt.Fprintf(w, "array:   %s uuid %s", st.ArrayName, st.ArrayUUID)
		if st.Created {
			fmt.Fprint(w, " (created this boot)")
		}
		fmt.Fprintln(w)
	}
	if a := st.Array; a != nil {
		fmt.Fprintf(w, "state:   %s, %s\n", a.Summary(), size(a.Sectors*512))
		if a.Syncing() {
			fmt.Fprintf(w, "sync:    %s %.1f%% (%d/%d sectors) at %.1f MB/s\n", a.SyncAction, 100*a.Progress(), a.SyncDone, a.SyncTotal, float64(a.SyncSpeedKB)/1000)
		}
		fmt.Fprintf(w, "mismatches: %d\n", a.MismatchCnt)
		ids := map[string]string{}
		for _, d := range st.Disks {
			ids[d.Name] = d.ID
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SLOT\tDISK\tNAME\tSTATE\tERRORS")
		for _, m := range a.Members {
			slot := "spare"
			if m.Slot >= 0 {
				slot = fmt.Sprint(m.Slot)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", slot, ids[m.Device], m.Device, strings.Join(m.State, ","), m.Errors)
		}
		tw.Flush()
	}
	if f := st.Filesystem; f != nil {
		state := "not mounted"
		if f.Mounted {
			state = "mounted"
		}
		fmt.Fprintf(w, "filesystem: %s %s on %s, %s", f.Type, f.Device, f.MountPoint, state)
		if f.TotalBytes > 0 {
			fmt.Fprintf(w, ", %s free of %s (%.1f%% used)", size(f.FreeBytes), size(f.TotalBytes), f.UsedPercent)
		}
		fmt.Fprintln(w)
	}
	if !st.LastScrub.IsZero() {
		fmt.Fprintf(w, "last scrub: %s\n", st.LastScrub.UTC().Format("2006-01-02 15:04"))
	}
}

func size(b uint64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(b)/(1<<40))
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%d MiB", b>>20)
	}
}

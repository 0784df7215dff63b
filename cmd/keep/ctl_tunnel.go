package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"keep/appliance/api"
)

const tunnelUsage = "usage: keep ctl tunnel [initiate | terminate | rekey [--ike]]"

// ctlTunnel is `keep ctl tunnel [initiate | terminate | rekey [--ike]]`.
func ctlTunnel(ctx context.Context, c *api.Client, out *ctlOut, args []string) error {
	if len(args) > 2 || len(args) == 2 && (args[0] != "rekey" || args[1] != "--ike") {
		return errors.New(tunnelUsage)
	}
	if len(args) > 0 {
		var a api.Accepted
		var err error
		switch args[0] {
		case "initiate":
			a, err = c.TunnelInitiate(ctx)
		case "terminate":
			a, err = c.TunnelTerminate(ctx)
		case "rekey":
			a, err = c.TunnelRekey(ctx, len(args) == 2)
		default:
			return errors.New(tunnelUsage)
		}
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(a)
		}
		fmt.Fprintln(out.w, a.Message)
		return nil
	}
	st, err := c.Tunnel(ctx)
	if err != nil {
		return err
	}
	if out.json {
		return out.printJSON(st)
	}
	printTunnel(out.w, st, time.Now())
	return nil
}

// printTunnel prints the tunnel status: the connection, the fail-closed
// policies, then one table of IKE SAs and one of CHILD SAs.
func printTunnel(w io.Writer, st api.TunnelStatus, now time.Time) {
	fmt.Fprintf(w, "tunnel:      %s, %s\n", st.Name, strings.ToUpper(st.State))
	fmt.Fprintf(w, "endpoints:   %s [%s] <-> NOC %s [%s], auth %s\n", st.Local, st.LocalID, st.NOC, st.NOCID, st.Auth)
	var blocks []string
	for _, b := range st.FailClosed {
		s := b.Network
		if !b.Installed {
			s += " (NOT INSTALLED)"
		}
		blocks = append(blocks, s)
	}
	fmt.Fprintf(w, "fail-closed: %s\n", orDash(strings.Join(blocks, ", ")))
	if !st.NextAttempt.IsZero() {
		fmt.Fprintf(w, "next try:    in %s\n", st.NextAttempt.Sub(now).Round(time.Second))
	}
	if e := st.LastEvent; e != nil {
		fmt.Fprintf(w, "last event:  %s %s", e.Time.Format("15:04:05"), e.Kind)
		if e.Reason != "" {
			fmt.Fprintf(w, ": %s", e.Reason)
		}
		fmt.Fprintln(w)
	}
	if len(st.IKE) == 0 {
		fmt.Fprintln(w, "\nno IKE SA")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IKE SA (SPIi_SPIr)\tROLE\tSTATE\tREMOTE\tNAT\tALGORITHMS\tESTABLISHED\tREKEY IN\tLAST DPD")
	for _, sa := range st.IKE {
		nat := "-"
		switch {
		case sa.NATLocal && sa.NATRemote:
			nat = "both"
		case sa.NATLocal:
			nat = "local"
		case sa.NATRemote:
			nat = "remote"
		}
		fmt.Fprintf(tw, "%s_%s\t%s\t%s\t%s\t%s\t%s/%s/%s\t%s\t%s\t%s\n", sa.SPIi, sa.SPIr, sa.Role, sa.State, sa.Remote, nat,
			sa.Encr, sa.PRF, sa.DH, tunnelClock(sa.Established), tunnelUntil(sa.RekeyAt, now), tunnelClock(sa.LastDPD))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD SA (IN/OUT)\tSTATE\tLOCAL TS\tREMOTE TS\tALGORITHMS\tREKEY IN\tEXPIRES IN\tBYTES IN\tBYTES OUT\tPACKETS IN\tPACKETS OUT")
	for _, sa := range st.IKE {
		for _, c := range sa.Children {
			algs := c.Encr
			if c.DH != "" {
				algs += "/" + c.DH
			}
			if c.ESN {
				algs += " esn"
			}
			if c.Encap {
				algs += " udp-encap"
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", c.SPIIn, c.SPIOut, c.State,
				strings.Join(c.LocalTS, ","), strings.Join(c.RemoteTS, ","), algs, tunnelUntil(c.RekeyAt, now), tunnelUntil(c.ExpireAt, now),
				c.BytesIn, c.BytesOut, c.PacketsIn, c.PacketsOut)
		}
	}
	tw.Flush()
}

func tunnelClock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05")
}

func tunnelUntil(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Sub(now).Round(time.Second).String()
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"keep/appliance/api"
	"keep/engine/jobs"
)

func ctlEngine(ctx context.Context, c *api.Client, out *ctlOut, cmd string, args []string) error {
	fs := flag.NewFlagSet("keep ctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch cmd {
	case "ls", "find", "cat":
		return ctlBrowse(ctx, c, out, fs, cmd, args)
	case "engine":
		if len(args) > 0 && args[0] == "recovery-key" {
			forget := fs.Bool("forget", false, "remove the recovery key from the box")
			if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
				return fmt.Errorf("usage: keep ctl engine recovery-key [--forget]")
			}
			k, err := c.RecoveryKey(ctx, *forget)
			if err != nil {
				return err
			}
			if out.json {
				return out.printJSON(k)
			}
			switch {
			case *forget:
				fmt.Fprintln(out.w, "the recovery key is no longer on the box")
			case !k.OnBox:
				fmt.Fprintln(out.w, "the recovery key is not on the box (it was taken off); the provider holds it")
			default:
				fmt.Fprintln(out.w, k.Key)
				fmt.Fprintln(out.w, "store it off the box, then: keep ctl engine recovery-key --forget")
			}
			return nil
		}
		if len(args) > 0 && args[0] == "passphrase" {
			return ctlEnginePassphrase(ctx, c, out, fs, args[1:])
		}
		if len(args) != 0 {
			return fmt.Errorf("usage: keep ctl engine [recovery-key [--forget] | passphrase (--from-file FILE | --generate)]")
		}
		st, err := c.EngineStatus(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(st)
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "directory:\t%s\n", st.Dir)
		fmt.Fprintf(tw, "key:\t%s\n", st.KeyID)
		fmt.Fprintf(tw, "snapshots:\t%d (%d damaged)\n", st.Snapshots, st.Damaged)
		fmt.Fprintf(tw, "store:\t%d blobs in %d packs, index %s in memory\n", st.Blobs, st.Packs, humanBytes(int64(st.IndexBytes)))
		fmt.Fprintf(tw, "clients:\t%d\n", st.Clients)
		fmt.Fprintf(tw, "jobs running:\t%d\n", st.Running)
		fmt.Fprintf(tw, "CA fingerprint:\t%s\n", st.CAFingerprint)
		if st.RecoveryKeyOnBox {
			fmt.Fprintf(tw, "warning:\tthe recovery key is still on the box: keep ctl engine recovery-key\n")
		}
		return tw.Flush()
	case "jobs":
		var q api.JobQuery
		fs.StringVar(&q.Client, "client", "", "only this client's jobs")
		fs.StringVar(&q.State, "state", "", "running, succeeded, partial or failed")
		fs.IntVar(&q.Limit, "n", 50, "newest N (0: all)")
		id, rest := "", args
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			id, rest = args[0], args[1:]
		}
		if err := fs.Parse(rest); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: keep ctl jobs [ID] [--client C] [--state S] [-n N]")
		}
		if id != "" {
			j, err := c.Job(ctx, id)
			if err != nil {
				return err
			}
			if out.json {
				return out.printJSON(j)
			}
			printJob(out.w, j)
			return nil
		}
		js, err := c.Jobs(ctx, q)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(js)
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLIENT\tKIND\tSTATE\tSTART\tTOOK\tFILES\tSEEN\tNEW\tSENT\tDEDUP\tSKIPPED")
		for _, j := range js {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", j.ID, j.Client, j.Kind, j.State,
				j.Start.Local().Format("2006-01-02 15:04:05"), took(j), j.Counts.Files, humanBytes(j.Counts.BytesSeen),
				humanBytes(j.Counts.BytesNew), humanBytes(j.Counts.BytesSent), ratio(j.DedupRatio), j.Skipped)
		}
		return tw.Flush()
	case "snapshots":
		var q api.SnapshotQuery
		fs.StringVar(&q.Client, "client", "", "only this client's snapshots")
		fs.StringVar(&q.Path, "path", "", "only snapshots that cover this path")
		since := fs.Duration("since", 0, "only snapshots of the last DURATION (e.g. 24h)")
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: keep ctl snapshots [--client C] [--path P] [--since 24h]")
		}
		if *since > 0 {
			q.Since = time.Now().Add(-*since)
		}
		l, err := c.Snapshots(ctx, q)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(l)
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tCLIENT\tHOST\tJOB\tFILES\tSIZE\tNEW\tPATHS")
		for _, s := range l.Snapshots {
			fmt.Fprintf(tw, "%.12s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Client, s.Hostname, s.Job,
				s.Summary.FilesSeen, humanBytes(s.Summary.BytesSeen), humanBytes(s.Summary.BytesNew), strings.Join(s.Paths, " "))
		}
		for _, d := range l.Damaged {
			fmt.Fprintf(tw, "DAMAGED\t%s\n", d)
		}
		return tw.Flush()
	case "clients":
		if len(args) != 0 {
			return fmt.Errorf("takes no arguments")
		}
		cs, err := c.Clients(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(cs)
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tSTATE\tCERTIFICATES\tREVOKED\tVALID UNTIL\tPENDING TOKENS")
		for _, cl := range cs {
			state := "enrolled"
			switch {
			case cl.Certificates == 0:
				state = "token issued"
			case !cl.Active(time.Now()) && cl.Revoked == cl.Certificates:
				state = "revoked"
			case !cl.Active(time.Now()):
				state = "expired"
			}
			until := "-"
			if !cl.NotAfter.IsZero() {
				until = cl.NotAfter.Local().Format("2006-01-02")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", cl.Name, state, cl.Certificates, cl.Revoked, until, cl.PendingTokens)
		}
		return tw.Flush()
	case "enrol":
		ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
		addr := fs.String("address", "", "host:port agents dial (default: the box's address)")
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("usage: keep ctl enrol CLIENT [--ttl 24h] [--address HOST:PORT]")
		}
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: keep ctl enrol CLIENT [--ttl 24h] [--address HOST:PORT]")
		}
		t, err := c.NewToken(ctx, api.TokenRequest{Client: args[0], TTLSeconds: int(ttl.Seconds()), Address: *addr})
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(t)
		}
		fmt.Fprintln(out.w, t.Token)
		fmt.Fprintf(out.w, "on %s, before %s: keep-agent enrol %s\n", t.Client, t.Expires.Local().Format("2006-01-02 15:04"), t.Token)
		return nil
	case "revoke":
		if len(args) != 1 {
			return fmt.Errorf("usage: keep ctl revoke CLIENT")
		}
		r, err := c.Revoke(ctx, args[0])
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(r)
		}
		fmt.Fprintf(out.w, "revoked %d certificates of %s and cut %d of its connections: it must enrol again with a new token\n", r.Revoked, r.Client, r.Cut)
		return nil
	case "grant-restore":
		const usage = "usage: keep ctl grant-restore CLIENT --from OWNER [--ttl 24h | --revoke]"
		from := fs.String("from", "", "the client whose snapshots CLIENT may read")
		ttl := fs.Duration("ttl", 24*time.Hour, "how long the grant lasts")
		revoke := fs.Bool("revoke", false, "end the grant now")
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return errors.New(usage)
		}
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || *from == "" {
			return errors.New(usage)
		}
		if *revoke {
			if err := c.RevokeGrant(ctx, args[0], *from); err != nil {
				return err
			}
			if out.json {
				return out.printJSON(map[string]string{"reader": args[0], "owner": *from, "state": "revoked"})
			}
			fmt.Fprintf(out.w, "%s may no longer list or restore %s's snapshots (a restore already running finishes)\n", args[0], *from)
			return nil
		}
		g, err := c.GrantRestore(ctx, api.GrantRequest{Client: args[0], Owner: *from, TTLSeconds: int(ttl.Seconds())})
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(g)
		}
		fmt.Fprintf(out.w, "%s may list and restore %s's snapshots until %s (on %s: keep-agent snapshots --client %s; keep-agent restore latest --client %s --target DIR)\n",
			g.Reader, g.Owner, g.Expires.Local().Format("2006-01-02 15:04"), g.Reader, g.Owner, g.Owner)
		return nil
	case "grants":
		if len(args) != 0 {
			return fmt.Errorf("takes no arguments")
		}
		gs, err := c.Grants(ctx)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(gs)
		}
		if len(gs) == 0 {
			fmt.Fprintln(out.w, "no grants in force: every client reads only its own snapshots")
			return nil
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tMAY READ\tUNTIL")
		for _, g := range gs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Reader, g.Owner, g.Expires.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "synthetic-full":
		snap := fs.String("snapshot", "", "the head snapshot (ID prefix); default the client's newest")
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("usage: keep ctl synthetic-full CLIENT [--snapshot ID]")
		}
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: keep ctl synthetic-full CLIENT [--snapshot ID]")
		}
		sr, err := c.SyntheticFull(ctx, api.SyntheticRequest{Client: args[0], Snapshot: *snap})
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(sr)
		}
		fmt.Fprintf(out.w, "synthetic full %.12s of %s from %.12s: %d files, %s (job %s)\n", sr.Snapshot.ID, args[0], sr.Snapshot.Parent.String(),
			sr.Job.Counts.Files, humanBytes(sr.Job.Counts.BytesSeen), sr.Job.ID)
		return nil
	case "verify":
		sample := fs.String("sample", "100%", "share of the data chunks to read, e.g. 10%")
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("usage: keep ctl verify [--sample N%%]")
		}
		p, err := strconv.ParseFloat(strings.TrimSuffix(*sample, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return fmt.Errorf("--sample %q: give a percentage in (0, 100], e.g. 10%%", *sample)
		}
		v, err := c.Verify(ctx, api.VerifyRequest{Percent: p})
		if err != nil {
			return err
		}
		if len(v.Damaged) > 0 {
			out.code = 4
		}
		if out.json {
			return out.printJSON(v)
		}
		fmt.Fprintf(out.w, "verified %d of %d chunks (%s) in %d snapshots: job %s %s\n", v.Read, v.Chunks, humanBytes(v.Bytes), v.Snapshots, v.Job.ID, v.Job.State)
		for _, d := range v.Damaged {
			fmt.Fprintf(out.w, "DAMAGED %s %s in pack %s: %s\n", d.Type, d.ID, orDash(d.Pack), d.Error)
			for _, u := range d.Uses {
				fmt.Fprintf(out.w, "  needed by %s\n", u)
			}
			if d.MoreUses > 0 {
				fmt.Fprintf(out.w, "  and %d more\n", d.MoreUses)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown engine command %q", cmd)
}

func printJob(w io.Writer, j jobs.Job) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "job:\t%s\n", j.ID)
	fmt.Fprintf(tw, "client:\t%s (%s)\n", j.Client, orDash(j.Hostname))
	fmt.Fprintf(tw, "kind:\t%s\n", j.Kind)
	fmt.Fprintf(tw, "state:\t%s\n", j.State)
	if j.Reason != "" {
		fmt.Fprintf(tw, "reason:\t%s\n", j.Reason)
	}
	fmt.Fprintf(tw, "start:\t%s\n", j.Start.Local().Format(time.RFC3339))
	if !j.End.IsZero() {
		fmt.Fprintf(tw, "end:\t%s (took %s)\n", j.End.Local().Format(time.RFC3339), took(j))
	}
	if len(j.Paths) > 0 {
		fmt.Fprintf(tw, "paths:\t%s\n", strings.Join(j.Paths, " "))
	}
	if j.Parent != "" {
		fmt.Fprintf(tw, "parent:\t%s\n", j.Parent)
	}
	if j.Snapshot != "" {
		fmt.Fprintf(tw, "snapshot:\t%s\n", j.Snapshot)
	}
	k := j.Counts
	fmt.Fprintf(tw, "files:\t%d (%d directories)\n", k.Files, k.Dirs)
	fmt.Fprintf(tw, "bytes:\tseen %s, read %s, new %s, sent %s, stored %s\n", humanBytes(k.BytesSeen), humanBytes(k.BytesRead),
		humanBytes(k.BytesNew), humanBytes(k.BytesSent), humanBytes(k.BytesStored))
	fmt.Fprintf(tw, "ratios:\tdedup %s, compression %s\n", ratio(j.DedupRatio), ratio(j.Compression))
	fmt.Fprintf(tw, "skipped:\t%d\n", j.Skipped)
	tw.Flush()
	for _, it := range j.Items {
		fmt.Fprintf(w, "  %s: %s\n", it.Path, it.Reason)
	}
}

func took(j jobs.Job) string {
	end := j.End
	if end.IsZero() {
		end = j.Updated
	}
	if end.IsZero() || end.Before(j.Start) {
		return "-"
	}
	return end.Sub(j.Start).Round(100 * time.Millisecond).String()
}

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

// humanBytes prints a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// ctlEnginePassphrase is `keep ctl engine passphrase (--from-file FILE |
// --generate)`: the master key is re-wrapped, nothing re-encrypted.
func ctlEnginePassphrase(ctx context.Context, c *api.Client, out *ctlOut, fs *flag.FlagSet, args []string) error {
	const usage = "usage: keep ctl engine passphrase (--from-file FILE | --generate); FILE - reads standard input"
	from := fs.String("from-file", "", "read the new passphrase from FILE (first line; - for standard input)")
	generate := fs.Bool("generate", false, "let the engine make a random passphrase and keep it in its passphrase file")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || (*from == "") == !*generate {
		return errors.New(usage)
	}
	req := api.PassphraseRequest{Generate: *generate}
	if *from != "" {
		var b []byte
		var err error
		if *from == "-" {
			b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
		} else {
			b, err = os.ReadFile(*from)
		}
		if err != nil {
			return fmt.Errorf("new passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if req.Passphrase = strings.TrimRight(line, "\r"); req.Passphrase == "" {
			return fmt.Errorf("new passphrase: %s holds no passphrase on its first line", *from)
		}
	}
	pc, err := c.ChangePassphrase(ctx, req)
	if err != nil {
		return err
	}
	if out.json {
		return out.printJSON(pc)
	}
	fmt.Fprintf(out.w, "key %s re-wrapped in %v; no data was re-encrypted, and the recovery key still opens it\n", pc.KeyID, pc.Took.Round(time.Millisecond))
	if pc.File != "" {
		fmt.Fprintf(out.w, "the engine reads the new passphrase from %s at its next start\n", pc.File)
	} else {
		fmt.Fprintln(out.w, "the engine was given its passphrase: give the new one at its next start")
	}
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"keep/appliance/api"
)

// ctlBrowse runs ls, find and cat: the vault's own browse and download.
func ctlBrowse(ctx context.Context, c *api.Client, out *ctlOut, fs *flag.FlagSet, cmd string, args []string) error {
	client := fs.String("client", "", "the client whose snapshots (\"latest\" is its newest)")
	switch cmd {
	case "ls":
		pos, err := interspersed(fs, args)
		if err != nil || len(pos) < 1 || len(pos) > 2 {
			return fmt.Errorf("usage: keep ctl ls SNAPSHOT [PATH] [--client C]")
		}
		q := api.ListQuery{Snapshot: pos[0], Client: *client}
		if len(pos) == 2 {
			q.Path = pos[1]
		}
		l, err := c.List(ctx, q)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(l)
		}
		fmt.Fprintf(out.w, "snapshot %.12s of %s (%s), /%s:\n", l.Snapshot.ID, l.Snapshot.Client, l.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), l.Path)
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		for _, en := range l.Entries {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", en.Type, en.Mode, en.Size, en.MTime.Local().Format("2006-01-02 15:04"), entryName(en.Path, en.Type, en.LinkTarget))
		}
		return tw.Flush()
	case "find":
		var q api.FindQuery
		fs.StringVar(&q.Path, "path", "", "only snapshots that cover this path")
		fs.IntVar(&q.Limit, "n", 1000, "at most N matches")
		pos, err := interspersed(fs, args)
		if err != nil || len(pos) != 1 {
			return fmt.Errorf("usage: keep ctl find PATTERN [--client C] [--path P] [-n N]")
		}
		q.Pattern, q.Client = pos[0], *client
		f, err := c.Find(ctx, q)
		if err != nil {
			return err
		}
		if out.json {
			return out.printJSON(f)
		}
		tw := tabwriter.NewWriter(out.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SNAPSHOT\tTYPE\tSIZE\tMTIME\tPATH")
		for _, en := range f.Found {
			fmt.Fprintf(tw, "%.12s\t%s\t%d\t%s\t%s\n", en.Snapshot, en.Type, en.Size, en.MTime.Local().Format("2006-01-02 15:04"), entryName(en.Path, en.Type, en.LinkTarget))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, e := range f.Errors {
			fmt.Fprintf(os.Stderr, "keep ctl find: %s\n", e)
		}
		if f.Truncated {
			fmt.Fprintf(os.Stderr, "keep ctl find: stopped at %d matches (-n)\n", len(f.Found))
		}
		return nil
	default: // cat
		output := fs.String("o", "", "write to `FILE` (made whole or not at all) instead of stdout")
		pos, err := interspersed(fs, args)
		if err != nil || len(pos) != 2 {
			return fmt.Errorf("usage: keep ctl cat SNAPSHOT PATH [--client C] [-o FILE]")
		}
		q := api.ListQuery{Snapshot: pos[0], Client: *client, Path: pos[1]}
		if *output == "" {
			_, _, err := c.Download(ctx, q, out.w)
			return err
		}
		return downloadTo(ctx, c, q, *output)
	}
}

// downloadTo downloads q into file: written beside it, synced and
// renamed over it, so file is the whole download or untouched.
func downloadTo(ctx context.Context, c *api.Client, q api.ListQuery, file string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".partial-")
	if err != nil {
		return err
	}
	n, snap, err := c.Download(ctx, q, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s of snapshot %.12s\n", file, humanBytes(n), snap)
	return nil
}

// entryName is a listed path with a symlink's target or a hard link's
// first name.
func entryName(p, typ, link string) string {
	switch typ {
	case "symlink":
		return p + " -> " + link
	case "hardlink":
		return p + " => /" + strings.TrimPrefix(link, "/")
	}
	return p
}

// interspersed parses fs's flags wherever they are among args and
// returns the positional arguments in order; all after "--" are
// positional.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, after []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, after = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return append(pos, after...), nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

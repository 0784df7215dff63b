package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"keep/engine/browse"
	"keep/engine/fingerprint"
	"keep/engine/remote"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// snapJSON is a snapshot as the agent prints it with --json.
type snapJSON struct {
	ID       string           `json:"id"`
	Time     time.Time        `json:"time"`
	End      time.Time        `json:"end"`
	Hostname string           `json:"hostname"`
	Client   string           `json:"client,omitempty"`
	Paths    []string         `json:"paths"`
	Tags     []string         `json:"tags,omitempty"`
	Parent   string           `json:"parent,omitempty"`
	Job      snapshot.JobType `json:"job"`
	Summary  snapshot.Summary `json:"summary"`
}

func toSnapJSON(s *snapshot.Snapshot) snapJSON {
	j := snapJSON{ID: s.ID.String(), Time: s.Time, End: s.End, Hostname: s.Hostname, Client: s.Client,
		Paths: s.Paths, Tags: s.Tags, Job: s.Job, Summary: s.Summary}
	if !s.Parent.IsZero() {
		j.Parent = s.Parent.String()
	}
	return j
}

// whose is the client a browsing or restoring command reads the
// snapshots of: this agent's own (mine) unless --client names another,
// whose snapshots the vault shows only while an operator's grant is in
// force (keep ctl grant-restore).
type whose struct {
	client string
	mine   bool
}

// clientFlag adds --client to a command that reads snapshots.
func clientFlag(fs *flag.FlagSet) *string {
	return fs.String("client", "", "read the snapshots of client `NAME` instead of this agent's own\n"+
		"(the vault shows them while an operator's grant is in force: keep ctl grant-restore)")
}

// whoseOf is the client flag (empty: this agent's own) against the
// agent's client name.
func whoseOf(c *remote.Client, flagged string) whose {
	own := c.Info().Client
	if flagged == "" || flagged == own {
		return whose{client: own, mine: true}
	}
	return whose{client: flagged}
}

// ofClient returns the snapshots of client among snaps, in their order.
// The vault lists a client's own snapshots and those of the clients it
// was granted reads of; a snapshot without a client name (none is
// committed so) counts as the agent's own.
func ofClient(snaps []*snapshot.Snapshot, w whose) []*snapshot.Snapshot {
	var out []*snapshot.Snapshot
	for _, s := range snaps {
		if s.Client == w.client || (s.Client == "" && w.mine) {
			out = append(out, s)
		}
	}
	return out
}

// resolve finds the snapshot spec names among w's snapshots in snaps:
// "latest" or a unique prefix of an ID.
func resolve(snaps []*snapshot.Snapshot, spec string, w whose) (*snapshot.Snapshot, error) {
	snaps = ofClient(snaps, w)
	if len(snaps) == 0 {
		if w.mine {
			return nil, errors.New("this client has no snapshots on the vault yet: run \"keep-agent backup\" first")
		}
		return nil, fmt.Errorf("no snapshots of client %q are visible: the client has none, or no grant lets this one read them (on the vault: keep ctl grant-restore THIS-CLIENT --from %s)", w.client, w.client)
	}
	if spec == "latest" {
		return snaps[len(snaps)-1], nil
	}
	spec = strings.ToLower(spec)
	if spec == "" || strings.Trim(spec, "0123456789abcdef") != "" {
		return nil, usagef("snapshot %q: give \"latest\" or a prefix of a snapshot ID (hex, see \"keep-agent snapshots\")", spec)
	}
	var found *snapshot.Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID.String(), spec) {
			if found != nil {
				return nil, fmt.Errorf("snapshot prefix %q is ambiguous (%s and %s at least): give more digits", spec, found.ID.Short(), s.ID.Short())
			}
			found = s
		}
	}
	if found == nil {
		if w.mine {
			return nil, fmt.Errorf("no snapshot of this client starts with %q (see \"keep-agent snapshots\"; another client's snapshot is read with --client NAME)", spec)
		}
		return nil, fmt.Errorf("no snapshot of client %q starts with %q (see \"keep-agent snapshots --client %s\")", w.client, spec, w.client)
	}
	return found, nil
}

// connectTo connects to the vault and resolves spec (an ID prefix or
// "latest") among the snapshots of the client flagged (empty: this
// agent's own).
func connectTo(ctx context.Context, dir, spec, flagged string) (*remote.Client, *snapshot.Snapshot, error) {
	c, err := connect(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	snaps, err := listSnaps(ctx, c)
	if err == nil {
		var s *snapshot.Snapshot
		if s, err = resolve(snaps, spec, whoseOf(c, flagged)); err == nil {
			return c, s, nil
		}
	}
	c.Close()
	return nil, nil, err
}

func listSnaps(ctx context.Context, c *remote.Client) ([]*snapshot.Snapshot, error) {
	snaps, err := c.ListSnapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return snaps, nil
}

// parseSince accepts RFC 3339, a date (2006-01-02, local time), or an
// age: 90m, 36h, 7d.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("--since %q: give a time (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (36h, 7d)", s)
}

func runSnapshots(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "snapshots", "snapshots [--path P] [--since T] [--client NAME] [--json]\n\n"+
		"Lists this client's snapshots, oldest first. The vault shows another client's only\n"+
		"while an operator's grant lets this one read them (keep ctl grant-restore); they\n"+
		"are listed with --client NAME, and read by every command with the same flag.")
	pathF := fs.String("path", "", "only snapshots covering `path` (a backed-up path or one below it)")
	since := fs.String("since", "", "only snapshots taken at or after `T` (RFC 3339, 2006-01-02, or an age: 36h, 7d)")
	host := fs.String("hostname", "", "only snapshots of this `host`")
	asJSON := fs.Bool("json", false, "print JSON")
	clientF := clientFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected arguments %q", pos)
	}
	f := browse.Filter{Hostname: *host}
	if *pathF != "" {
		ap, err := filepath.Abs(*pathF)
		if err != nil {
			return err
		}
		f.Path = ap
	}
	if *since != "" {
		if f.From, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	}
	c, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	all, err := listSnaps(ctx, c)
	if err != nil {
		return err
	}
	w := whoseOf(c, *clientF)
	var snaps []*snapshot.Snapshot
	for _, s := range ofClient(all, w) {
		if f.Match(s) {
			snaps = append(snaps, s)
		}
	}
	if w.mine {
		// Say which other clients' snapshots a grant makes readable.
		others := map[string]int{}
		for _, s := range all {
			if s.Client != "" && s.Client != w.client {
				others[s.Client]++
			}
		}
		for _, name := range slices.Sorted(maps.Keys(others)) {
			fmt.Fprintf(e.stderr, "%d snapshots of client %q are readable by a grant: keep-agent snapshots --client %s\n", others[name], name, name)
		}
	}
	if *asJSON {
		out := make([]snapJSON, 0, len(snaps))
		for _, s := range snaps {
			out = append(out, toSnapJSON(s))
		}
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tHOST\tJOB\tFILES\tSIZE\tPATHS")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID.Short(), s.Time.Local().Format("2006-01-02 15:04:05"), s.Hostname,
			s.Job, s.Summary.FilesSeen, human(s.Summary.BytesSeen), strings.Join(s.Paths, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(snaps) == 0 {
		if w.mine {
			fmt.Fprintln(e.stderr, "no snapshots match")
		} else {
			fmt.Fprintf(e.stderr, "no snapshots of client %q match (without an operator's grant in force the vault shows none)\n", w.client)
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runLs(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "ls", "ls SNAPSHOT [PATH] [--client NAME] [--json]\n\n"+
		"Lists the directory PATH of a snapshot (default: its root) from the snapshot's trees,\n"+
		"without reading file data. PATH is an original absolute path (/srv/www) or a path\n"+
		"from the snapshot's root as ls prints it (www/index.html).")
	asJSON := fs.Bool("json", false, "print JSON")
	recursive := fs.Bool("recursive", false, "list subdirectories too")
	clientF := clientFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("expected SNAPSHOT [PATH]")
	}
	c, s, err := connectTo(ctx, *dir, pos[0], *clientF)
	if err != nil {
		return err
	}
	defer c.Close()
	snap, err := c.OpenSnapshot(ctx, s.ID)
	if err != nil {
		return err
	}
	sub := ""
	if len(pos) == 2 {
		sub = browse.SnapPath(snap, pos[1])
	}
	var entries []browse.Entry
	var walk func(p string) error
	walk = func(p string) error {
		es, err := browse.List(ctx, c, snap, p)
		if err != nil {
			if errors.Is(err, browse.ErrNotDir) {
				en, serr := browse.Stat(ctx, c, snap, p)
				if serr != nil {
					return serr
				}
				entries = append(entries, en)
				return nil
			}
			return fmt.Errorf("list %s: %w", "/"+p, err)
		}
		for _, en := range es {
			entries = append(entries, en)
			if *recursive && en.Type == tree.Dir {
				if err := walk(strings.TrimPrefix(en.Path, "/")); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(sub); err != nil {
		return err
	}
	if *asJSON {
		out := make([]browse.JSONEntry, 0, len(entries))
		for _, en := range entries {
			out = append(out, en.JSON(fingerprint.ID{}))
		}
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', 0)
	for _, en := range entries {
		fmt.Fprintln(tw, en.Line())
	}
	return tw.Flush()
}

func runFind(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "find", "find GLOB [--snapshot S] [--client NAME] [--json]\n\n"+
		"Finds items whose path matches GLOB (gitignore-like: \"*.conf\" matches names at any\n"+
		"depth, \"/www/**/*.html\" is anchored at the snapshot root, \"**\" crosses directories)\n"+
		"in every snapshot of this client, or in --snapshot S. Reads trees only, never file data.")
	snapF := fs.String("snapshot", "", "search only this snapshot (ID prefix or \"latest\")")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 10000, "stop after `n` matches")
	clientF := clientFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("expected one GLOB")
	}
	c, err := connect(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	all, err := listSnaps(ctx, c)
	if err != nil {
		return err
	}
	w := whoseOf(c, *clientF)
	var ids []*snapshot.Snapshot
	if *snapF != "" {
		s, err := resolve(all, *snapF, w)
		if err != nil {
			return err
		}
		ids = []*snapshot.Snapshot{s}
	} else {
		ids = ofClient(all, w)
	}
	snaps := make([]*snapshot.Snapshot, 0, len(ids))
	for _, s := range ids {
		o, err := c.OpenSnapshot(ctx, s.ID)
		if err != nil {
			return err
		}
		snaps = append(snaps, o)
	}
	res, err := browse.Find(ctx, c, snaps, pos[0], browse.FindOptions{Limit: *limit})
	if err != nil {
		return err
	}
	for _, fe := range res.Errors {
		fmt.Fprintf(e.stderr, "warning: snapshot %s: %s: %v\n", fe.Snapshot.Short(), fe.Path, fe.Err)
	}
	if *asJSON {
		out := make([]browse.JSONEntry, 0, len(res.Found))
		for _, f := range res.Found {
			out = append(out, f.Entry.JSON(f.Snapshot))
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', 0)
		for _, f := range res.Found {
			fmt.Fprintf(tw, "%s\t%s\n", f.Snapshot.Short(), f.Entry.Line())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if res.Truncated {
		fmt.Fprintf(e.stderr, "stopped after %d matches: narrow the pattern or raise --limit\n", *limit)
	}
	if len(res.Errors) > 0 {
		return &exitError{exitSkipped}
	}
	return nil
}

func runCat(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "cat", "cat SNAPSHOT PATH [--client NAME]\n\n"+
		"Writes the content of one file (or image, or stream) of a snapshot to stdout.")
	clientF := clientFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("expected SNAPSHOT PATH")
	}
	c, s, err := connectTo(ctx, *dir, pos[0], *clientF)
	if err != nil {
		return err
	}
	defer c.Close()
	rd, err := c.OpenRestore(ctx, s.ID, "", hostname())
	if err != nil {
		return err
	}
	cerr := restore.Cat(ctx, rd, rd.Snapshot(), browse.SnapPath(rd.Snapshot(), pos[1]), e.stdout)
	if ferr := rd.Finish(ctx, nil, cerr); ferr != nil && cerr == nil {
		cerr = ferr
	}
	return cerr
}

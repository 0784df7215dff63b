package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"keep/engine/browse"
	"keep/engine/jobs"
	"keep/engine/restore"
	"keep/engine/snapshot"
)

// The vault's own browse and download: an operator lists a directory of
// a client's snapshot, finds files by name across snapshots (trees only,
// no file data read), and takes one file out of the vault without the
// client (its server is gone, or the provider's portal serves a download).
// A download is recorded as a restore job of the snapshot's client.

// ErrBadSpec: a snapshot spec that is neither "latest" nor hex.
var ErrBadSpec = errors.New("give \"latest\" or a prefix of a snapshot ID (hex)")

// ErrAmbiguous: a snapshot ID prefix more than one snapshot has.
var ErrAmbiguous = errors.New("give more digits")

// ErrNoContent: a download of something without content (a directory).
var ErrNoContent = errors.New("only files, images and streams are downloaded")

// ResolveSnapshot returns the snapshot spec names among client's
// snapshots ("": every client's): "latest", the newest, or the one whose
// ID starts with spec (hex, unique).
func (e *Engine) ResolveSnapshot(ctx context.Context, spec, client string) (*snapshot.Snapshot, error) {
	spec = strings.ToLower(spec)
	if spec != "latest" && (spec == "" || strings.Trim(spec, "0123456789abcdef") != "") {
		return nil, fmt.Errorf("engine: snapshot %q: %w", spec, ErrBadSpec)
	}
	snaps, _, err := e.Snapshots(ctx, browse.Filter{Client: client}) // newest first
	if err != nil {
		return nil, err
	}
	of := "the vault"
	if client != "" {
		of = "client " + client
	}
	if spec == "latest" {
		if len(snaps) == 0 {
			return nil, fmt.Errorf("engine: %w: %s has no snapshots", jobs.ErrNotFound, of)
		}
		return snaps[0], nil
	}
	var found *snapshot.Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID.String(), spec) {
			if found != nil {
				return nil, fmt.Errorf("engine: snapshot prefix %q is ambiguous (%s and %s at least): %w", spec, found.ID.Short(), s.ID.Short(), ErrAmbiguous)
			}
			found = s
		}
	}
	if found == nil {
		return nil, fmt.Errorf("engine: %w: no snapshot of %s starts with %q", jobs.ErrNotFound, of, spec)
	}
	return found, nil
}

// Listing is a directory of a snapshot.
type Listing struct {
	Snapshot *snapshot.Snapshot
	Path     string // in the snapshot, from its root ("" the root)
	Entries  []browse.Entry
}

// List lists the directory p of the snapshot spec of client (see
// ResolveSnapshot): p is an original absolute path ("/srv/www") or a path
// from the snapshot's root as listings print them ("www/a").
func (e *Engine) List(ctx context.Context, spec, client, p string) (*Listing, error) {
	s, err := e.ResolveSnapshot(ctx, spec, client)
	if err != nil {
		return nil, err
	}
	sub := browse.SnapPath(s, p)
	ents, err := browse.List(ctx, e.Repo, s, sub)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return &Listing{Snapshot: s, Path: sub, Entries: ents}, nil
}

// Find searches the snapshots f selects, newest first, for items whose
// path matches pattern (browse.Find: globs, trees only).
func (e *Engine) Find(ctx context.Context, pattern string, f browse.Filter, limit int) (*browse.FindResult, error) {
	snaps, _, err := e.Snapshots(ctx, f)
	if err != nil {
		return nil, err
	}
	res, err := browse.Find(ctx, e.Repo, snaps, pattern, browse.FindOptions{Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return res, nil
}

// A Download is one file of a snapshot, found and not yet read.
type Download struct {
	Snapshot *snapshot.Snapshot
	Entry    browse.Entry // its Size is the content's length
	e        *Engine
	sub      string
}

// Name is the file's name, Size its length, SnapshotID its snapshot's.
func (d *Download) Name() string       { return d.Entry.Name }
func (d *Download) Size() uint64       { return d.Entry.Size }
func (d *Download) SnapshotID() string { return d.Snapshot.ID.String() }

// OpenDownload finds the file, image or stream p of the snapshot spec of
// client (as List takes them).
func (e *Engine) OpenDownload(ctx context.Context, spec, client, p string) (*Download, error) {
	s, err := e.ResolveSnapshot(ctx, spec, client)
	if err != nil {
		return nil, err
	}
	sub := browse.SnapPath(s, p)
	en, err := browse.Stat(ctx, e.Repo, s, sub)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if !en.Type.HasContent() {
		return nil, fmt.Errorf("engine: %s is a %s: %w (list a directory instead)", en.Path, en.Type, ErrNoContent)
	}
	return &Download{Snapshot: s, Entry: en, e: e, sub: sub}, nil
}

// WriteTo writes the content to w (holes as zeros), recorded as a restore
// job of the snapshot's client by hostname (who downloads). A damaged
// chunk ends it with an error after the bytes before it: never a wrong
// byte. The job is returned with the error, if it was recorded.
func (d *Download) WriteTo(ctx context.Context, w io.Writer, hostname string) (jobs.Job, error) {
	id, err := d.e.Jobs.Start(jobs.Job{Client: d.Snapshot.Client, Hostname: hostname, Kind: jobs.Restore, Paths: []string{d.Entry.Path}, Snapshot: d.Snapshot.ID.String()})
	if err != nil {
		return jobs.Job{}, fmt.Errorf("engine: %w", err)
	}
	cw := &countWriter{w: w}
	cerr := restore.Cat(ctx, d.e.Repo, d.Snapshot, d.sub, cw)
	state, reason := jobs.Succeeded, ""
	if cerr != nil {
		state, reason = jobs.Failed, cerr.Error()
	}
	err = d.e.Jobs.Finish(id, state, reason, func(j *jobs.Job) {
		j.Counts.Files, j.Counts.BytesSeen, j.Counts.BytesSent = 1, int64(d.Entry.Size), cw.n
		if cerr != nil {
			j.AddItems(jobs.Item{Path: d.Entry.Path, Reason: cerr.Error()})
		}
	})
	j, _ := d.e.Jobs.Get(id)
	if cerr != nil {
		return j, fmt.Errorf("engine: download of %s: %w", d.Entry.Path, cerr)
	}
	if err != nil {
		return j, fmt.Errorf("engine: %w", err)
	}
	return j, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

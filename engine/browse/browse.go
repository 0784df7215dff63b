// Package browse answers questions about what a repository holds from its
// snapshots and trees alone, never reading file data: which snapshots
// match a filter (client, host, path, time range), what a directory of a
// snapshot contains (name, type, size, mtime, mode, owner), and where
// files whose names match a glob are, across snapshots.
//
// It works over two interfaces, tree.Getter (tree blobs) and
// snapshot.Reader (snapshot files), which engine/repo's Repo implements
// locally and a network client can implement remotely; browse asks them
// only for pack.Tree blobs and snapshot files.
//
// Invariants:
//
//   - No data reads: every Get is of a pack.Tree blob (the tests count
//     them through a wrapping Getter). Sizes come from the nodes.
//   - Paths are slash-separated and relative to the snapshot's root
//     ("" or "/" the root; "src/etc/passwd"), as restore takes them;
//     results carry paths of the same form with a leading "/".
//   - Find walks each distinct directory tree once per query for
//     name-only patterns (results for a tree shared by many snapshots
//     are computed once and re-rooted), so searching N snapshots of a
//     mostly unchanged machine costs about one walk plus what changed.
//   - Damage is reported, not hidden: a tree that cannot be read fails
//     List with its error; Find records it in FindResult.Errors (path and
//     error) and searches the rest.
//
// Testing: a repository with several snapshots of generated trees; list
// and find are compared with what was backed up, through a Getter that
// counts blob reads by type and fails the test on any data read; filters
// by client, host, path and time. (The only outside bytes browse decodes
// are trees and snapshots, fuzzed in their packages, and glob patterns,
// fuzzed in engine/backup.)
package browse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"keep/engine/backup"
	"keep/engine/fingerprint"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// Source is a repository as browse reads it: engine/repo's Repo.
type Source interface {
	tree.Getter
	snapshot.Reader
}

// Filter selects snapshots; zero fields match everything.
type Filter struct {
	Client   string
	Hostname string
	// Path matches snapshots that cover it: one of their Paths equals it
	// or is a directory above it ("/home" covers "/home/u/x").
	Path string
	// From and To bound the snapshot's Time: From ≤ Time < To.
	From, To time.Time
	// Tags: the snapshot has all of them.
	Tags []string
	// Job: the snapshot's job type.
	Job snapshot.JobType
}

// Match reports whether s passes f.
func (f *Filter) Match(s *snapshot.Snapshot) bool {
	switch {
	case f.Client != "" && s.Client != f.Client,
		f.Hostname != "" && s.Hostname != f.Hostname,
		!f.From.IsZero() && s.Time.Before(f.From),
		!f.To.IsZero() && !s.Time.Before(f.To),
		f.Job != "" && s.Job != f.Job:
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(s.Tags, t) {
			return false
		}
	}
	if f.Path != "" {
		want := strings.TrimSuffix(f.Path, "/")
		covered := false
		for _, p := range s.Paths {
			p = strings.TrimSuffix(p, "/")
			if p == want || p == "" || strings.HasPrefix(want, p+"/") {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// Snapshots lists the snapshots that pass f, oldest first, and the
// snapshot files that could not be read.
func Snapshots(ctx context.Context, r snapshot.Reader, f Filter) ([]*snapshot.Snapshot, []snapshot.Damaged, error) {
	all, damaged, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, nil, fmt.Errorf("browse: %w", err)
	}
	out := all[:0]
	for _, s := range all {
		if f.Match(s) {
			out = append(out, s)
		}
	}
	return out, damaged, nil
}

// Entry is one item of a snapshot, from its tree node.
type Entry struct {
	Path  string // from the snapshot's root, with a leading "/"
	Name  string
	Type  tree.Type
	Size  uint64 // content length (files, hard links, images)
	MTime time.Time
	Mode  uint32 // permission and special bits (07777)
	UID   uint32
	GID   uint32
	User  string
	Group string
	// LinkTarget is a symlink's target or a hard link's first name.
	LinkTarget string
}

// FileMode returns the entry's type and permission bits as an fs.FileMode.
func (e *Entry) FileMode() fs.FileMode {
	m := fs.FileMode(e.Mode & 0o777)
	if e.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if e.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if e.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch e.Type {
	case tree.Dir:
		m |= fs.ModeDir
	case tree.Symlink:
		m |= fs.ModeSymlink
	case tree.CharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tree.BlockDev:
		m |= fs.ModeDevice
	case tree.FIFO:
		m |= fs.ModeNamedPipe
	case tree.Socket:
		m |= fs.ModeSocket
	}
	return m
}

func entryOf(dir string, n *tree.Node) Entry {
	return Entry{
		Path: dir + "/" + n.Name, Name: n.Name, Type: n.Type, Size: n.Size,
		MTime: time.Unix(0, n.MTime).UTC(), Mode: n.Mode, UID: n.UID, GID: n.GID,
		User: n.User, Group: n.Group, LinkTarget: n.LinkTarget,
	}
}

// ErrNotDir: List was given the path of something that is not a
// directory.
var ErrNotDir = errors.New("not a directory")

// splitPath splits a snapshot path into its elements; "", "/" and "."
// elements are dropped, ".." is refused.
func splitPath(p string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("browse: %q: \"..\" is not allowed", p)
		}
		out = append(out, e)
	}
	return out, nil
}

// Stat returns the entry at path in snap (the root itself has no entry:
// ErrNotDir is not returned for it, a zero Entry of type Dir is).
func Stat(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, path string) (Entry, error) {
	elems, err := splitPath(path)
	if err != nil {
		return Entry{}, err
	}
	if len(elems) == 0 {
		return Entry{Path: "/", Type: tree.Dir}, nil
	}
	dir, tid := "", snap.Tree
	for i, e := range elems {
		nodes, err := tree.Load(ctx, g, tid)
		if err != nil {
			return Entry{}, fmt.Errorf("browse: %s: %w", cmp.Or(dir, "/"), err)
		}
		k, ok := slices.BinarySearchFunc(nodes, e, func(n tree.Node, name string) int { return strings.Compare(n.Name, name) })
		if !ok {
			return Entry{}, fmt.Errorf("browse: %s/%s: %w", dir, e, os.ErrNotExist)
		}
		n := &nodes[k]
		if i == len(elems)-1 {
			return entryOf(dir, n), nil
		}
		if n.Type != tree.Dir {
			return Entry{}, fmt.Errorf("browse: %s/%s: %w", dir, e, ErrNotDir)
		}
		dir, tid = dir+"/"+e, n.Subtree
	}
	return Entry{}, fmt.Errorf("browse: %s: %w", path, os.ErrNotExist) // not reached
}

// List returns the entries of the directory at path in snap, in name
// order, from its tree alone.
func List(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, path string) ([]Entry, error) {
	elems, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	dir, tid := "", snap.Tree
	for _, e := range elems {
		nodes, err := tree.Load(ctx, g, tid)
		if err != nil {
			return nil, fmt.Errorf("browse: %s: %w", cmp.Or(dir, "/"), err)
		}
		k, ok := slices.BinarySearchFunc(nodes, e, func(n tree.Node, name string) int { return strings.Compare(n.Name, name) })
		if !ok {
			return nil, fmt.Errorf("browse: %s/%s: %w", dir, e, os.ErrNotExist)
		}
		if nodes[k].Type != tree.Dir {
			return nil, fmt.Errorf("browse: %s/%s: %w", dir, e, ErrNotDir)
		}
		dir, tid = dir+"/"+e, nodes[k].Subtree
	}
	nodes, err := tree.Load(ctx, g, tid)
	if err != nil {
		return nil, fmt.Errorf("browse: %s: %w", cmp.Or(dir, "/"), err)
	}
	out := make([]Entry, len(nodes))
	for i := range nodes {
		out[i] = entryOf(dir, &nodes[i])
	}
	return out, nil
}

// FindOptions tune Find.
type FindOptions struct {
	// Limit stops the search after this many matches; zero: 10000.
	Limit int
	// Types keeps matches of these types only; empty: all.
	Types []tree.Type
}

// Found is one match of Find.
type Found struct {
	Snapshot fingerprint.ID
	Time     time.Time // the snapshot's
	Entry
}

// FindError is a directory Find could not read.
type FindError struct {
	Snapshot fingerprint.ID
	Path     string
	Err      error
}

// FindResult is what Find found.
type FindResult struct {
	Found     []Found // by snapshot (in the order given), then path
	Truncated bool    // Limit was reached
	Errors    []FindError
}

// Find searches snaps for items whose path matches pattern, a glob with
// engine/backup's gitignore-like syntax (backup.CompilePattern): a
// pattern without "/" ("*.conf") matches names at any depth, one with a
// "/" is anchored at the snapshot's root ("/src/etc/*.conf"), "**"
// crosses directories, a trailing "/" matches directories only. It reads
// trees only.
func Find(ctx context.Context, g tree.Getter, snaps []*snapshot.Snapshot, pattern string, opts FindOptions) (*FindResult, error) {
	pat, err := backup.CompilePattern(pattern)
	if err != nil {
		return nil, fmt.Errorf("browse: %w", err)
	}
	if opts.Limit <= 0 {
		opts.Limit = 10000
	}
	f := &finder{ctx: ctx, g: g, pat: pat, opts: opts, res: &FindResult{}}
	// A name-only pattern matches the same items of a tree wherever it
	// is, so results per tree can be shared between snapshots.
	f.nameOnly = !strings.Contains(strings.Trim(pattern, "/"), "/") && !strings.HasPrefix(pattern, "/")
	if f.nameOnly {
		f.memo = map[fingerprint.ID]*subResult{}
	}
	for _, s := range snaps {
		if f.full() {
			break
		}
		f.snap = s
		sr, err := f.walk(s.Tree, "")
		if err != nil {
			return nil, err
		}
		f.emit(sr)
	}
	return f.res, nil
}

type finder struct {
	ctx      context.Context
	g        tree.Getter
	pat      *backup.Pattern
	opts     FindOptions
	res      *FindResult
	snap     *snapshot.Snapshot
	nameOnly bool
	memo     map[fingerprint.ID]*subResult
}

// subResult is a tree's matches, paths relative to it, and its read
// errors.
type subResult struct {
	found []Entry
	errs  []FindError
}

func (f *finder) full() bool { return len(f.res.Found) >= f.opts.Limit }

func (f *finder) emit(sr *subResult) {
	for _, e := range sr.found {
		if f.full() {
			f.res.Truncated = true
			return
		}
		f.res.Found = append(f.res.Found, Found{Snapshot: f.snap.ID, Time: f.snap.Time, Entry: e})
	}
	for _, fe := range sr.errs {
		f.res.Errors = append(f.res.Errors, FindError{Snapshot: f.snap.ID, Path: cmp.Or(fe.Path, "/"), Err: fe.Err})
	}
}

// walk returns the matches in the tree id, whose snapshot path is dir
// (used for anchored patterns; memoized results are relative).
func (f *finder) walk(id fingerprint.ID, dir string) (*subResult, error) {
	if err := f.ctx.Err(); err != nil {
		return nil, err
	}
	if f.memo != nil {
		if sr, ok := f.memo[id]; ok {
			return sr, nil
		}
	}
	sr := &subResult{}
	nodes, err := tree.Load(f.ctx, f.g, id)
	if err != nil {
		sr.errs = append(sr.errs, FindError{Err: err})
		return sr, nil
	}
	base := dir
	if f.nameOnly {
		base = ""
	}
	for i := range nodes {
		n := &nodes[i]
		p := dir + "/" + n.Name
		if f.pat.Match(p, n.Type == tree.Dir) && (len(f.opts.Types) == 0 || slices.Contains(f.opts.Types, n.Type)) {
			sr.found = append(sr.found, entryOf(base, n))
		}
		if n.Type == tree.Dir {
			sub, err := f.walk(n.Subtree, p)
			if err != nil {
				return nil, err
			}
			rel := base + "/" + n.Name
			for _, e := range sub.found {
				if f.nameOnly {
					e.Path = rel + e.Path
				}
				sr.found = append(sr.found, e)
			}
			for _, fe := range sub.errs {
				if f.nameOnly || fe.Path == "" {
					fe.Path = rel + fe.Path
				}
				sr.errs = append(sr.errs, fe)
			}
		}
		if len(sr.found) >= f.opts.Limit {
			break
		}
	}
	if f.memo != nil {
		f.memo[id] = sr
	}
	return sr, nil
}

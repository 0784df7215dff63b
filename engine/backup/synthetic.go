package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// SyntheticStore is what SyntheticFull needs of the repository: reading
// trees, asking for chunks, committing. Store (and repo.Repo) has it.
type SyntheticStore interface {
	tree.Getter
	Has(t pack.BlobType, id fingerprint.ID) bool
	snapshot.Committer
}

// SyntheticOptions describe a synthetic full.
type SyntheticOptions struct {
	// Chain, if set, is the job's parent full and its incrementals,
	// oldest first, ending with the head: each one's Parent must be the
	// one before it. It is only checked, never read: the head's tree is
	// already the whole state.
	Chain []*snapshot.Snapshot
	// Tags are added to the head's.
	Tags []string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// ErrIncomplete: a synthetic full found a tree or chunk of its head
// missing, so it would not restore; no snapshot was written.
var ErrIncomplete = errors.New("snapshot is incomplete")

// SyntheticFull makes a full backup on the vault from what it holds,
// without the client: every snapshot is logically full, so the newest
// incremental's tree already is the full state, and the synthetic full
// commits that tree again as a new snapshot of job type synthetic-full
// whose Parent is the head (host, client and paths copied, Time the job's
// start, Summary counting the files, directories and bytes the tree holds
// and nothing read or stored).
//
// What makes it more than a relabel: before committing, it walks the
// head's whole tree (every tree blob read and decoded) and checks that
// the repository still has every chunk it names (Has: the index, no data
// read). A head that would not restore is refused with ErrIncomplete
// (the error names the path), instead of becoming a "full" that is
// not. It is cheap (trees only), and a later incremental can use it as
// its parent exactly as a full.
func SyntheticFull(ctx context.Context, s SyntheticStore, head *snapshot.Snapshot, opts SyntheticOptions) (*snapshot.Snapshot, error) {
	if head == nil || head.ID.IsZero() {
		return nil, errors.New("backup: synthetic full: no committed head snapshot")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if c := opts.Chain; len(c) > 0 {
		if c[len(c)-1].ID != head.ID {
			return nil, errors.New("backup: synthetic full: the chain does not end with the head")
		}
		for i := 1; i < len(c); i++ {
			if c[i].Parent != c[i-1].ID {
				return nil, fmt.Errorf("backup: synthetic full: %s is not the parent of %s", c[i-1].ID.Short(), c[i].ID.Short())
			}
		}
	}
	start := opts.Now()
	var sum snapshot.Summary
	seen := map[fingerprint.ID]bool{}
	var walk func(id fingerprint.ID, path string) error
	walk = func(id fingerprint.ID, path string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		nodes, err := tree.Load(ctx, s, id)
		if err != nil {
			return fmt.Errorf("%s/: %w: %w", path, ErrIncomplete, err)
		}
		for _, n := range nodes {
			p := path + "/" + n.Name
			switch {
			case n.Type == tree.Dir:
				sum.DirsSeen++
				if err := walk(n.Subtree, p); err != nil {
					return err
				}
				continue
			case n.Type.HasContent():
				if n.Type != tree.Hardlink { // counted once, as a backup does
					sum.BytesSeen += int64(n.Size)
				}
				for _, e := range n.Content {
					if e.Hole {
						sum.HoleBytes += int64(e.Length)
						continue
					}
					if !seen[e.ID] {
						if !s.Has(pack.Data, e.ID) {
							return fmt.Errorf("%s: chunk %s: %w", p, e.ID.Short(), ErrIncomplete)
						}
						seen[e.ID] = true
					}
				}
			}
			sum.FilesSeen++
			sum.FilesUnchanged++
		}
		return nil
	}
	if err := walk(head.Tree, ""); err != nil {
		return nil, fmt.Errorf("backup: synthetic full of %s: %w", head.ID.Short(), err)
	}
	tags := slices.Clone(head.Tags)
	for _, t := range opts.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	out := &snapshot.Snapshot{
		Version: snapshot.Version, Time: start.UTC(), End: opts.Now().UTC(),
		Hostname: head.Hostname, Client: head.Client, Paths: slices.Clone(head.Paths), Tags: tags,
		Parent: head.ID, Tree: head.Tree, Job: snapshot.SyntheticFull, Summary: sum,
	}
	if err := snapshot.Save(ctx, s, out); err != nil {
		return nil, fmt.Errorf("backup: synthetic full: %w", err)
	}
	return out, nil
}

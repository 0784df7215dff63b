package snapshot

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"keep/engine/fingerprint"
	"keep/engine/repo"
)

// Committer is where snapshots are written: engine/repo's Repo. Flush
// makes every blob accepted before it durable (nil: all of them are);
// WriteFile stores a file of an area durably and returns its ID.
type Committer interface {
	Flush(ctx context.Context) error
	WriteFile(ctx context.Context, a repo.Area, data []byte) (fingerprint.ID, error)
}

// Reader reads snapshot files: engine/repo's Repo. ReadFile returns
// repo.ErrNotFound or repo.ErrCorrupt (wrapped) for a missing or damaged
// file.
type Reader interface {
	ListFiles(ctx context.Context, a repo.Area) ([]fingerprint.ID, error)
	ReadFile(ctx context.Context, a repo.Area, id fingerprint.ID) ([]byte, error)
}

// Save commits s: it flushes the repository and, only if that returned
// nil, writes s as snapshots/<id> and sets s.ID. This is the commit point
// of a backup (see the package doc): a crash or error before it leaves no
// snapshot; after it the snapshot and everything it refers to are durable.
func Save(ctx context.Context, c Committer, s *Snapshot) error {
	b, err := Encode(s)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := c.Flush(ctx); err != nil {
		return fmt.Errorf("save snapshot: flush: %w", err)
	}
	id, err := c.WriteFile(ctx, repo.Snapshots, b)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	s.ID = id
	return nil
}

// Load reads the snapshot id.
func Load(ctx context.Context, r Reader, id fingerprint.ID) (*Snapshot, error) {
	b, err := r.ReadFile(ctx, repo.Snapshots, id)
	if err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", id.Short(), err)
	}
	s, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", id.Short(), err)
	}
	s.ID = id
	return s, nil
}

// Damaged is a snapshot file that could not be loaded.
type Damaged struct {
	ID  fingerprint.ID
	Err error
}

// List loads every snapshot, oldest first (by Time, then ID). A snapshot
// file that is damaged or unreadable is reported in damaged and never
// affects the others; err is only for failing to list.
func List(ctx context.Context, r Reader) (snaps []*Snapshot, damaged []Damaged, err error) {
	ids, err := r.ListFiles(ctx, repo.Snapshots)
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		s, err := Load(ctx, r, id)
		if err != nil {
			damaged = append(damaged, Damaged{id, err})
			continue
		}
		snaps = append(snaps, s)
	}
	slices.SortFunc(snaps, func(a, b *Snapshot) int {
		return cmp.Or(a.Time.Compare(b.Time), slices.Compare(a.ID[:], b.ID[:]))
	})
	return snaps, damaged, nil
}

// Latest returns the newest of snaps (sorted as List returns them) made
// by hostname for the same set of paths, the parent of the next
// incremental; nil if none.
func Latest(snaps []*Snapshot, hostname string, paths []string) *Snapshot {
	want := slices.Sorted(slices.Values(paths))
	for i := len(snaps) - 1; i >= 0; i-- {
		if s := snaps[i]; s.Hostname == hostname && slices.Equal(slices.Sorted(slices.Values(s.Paths)), want) {
			return s
		}
	}
	return nil
}

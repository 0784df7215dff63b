package restore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// RepoSource is what VerifyRepo reads: trees and chunks, and snapshot
// files (engine/repo's Repo).
type RepoSource interface {
	tree.Getter
	snapshot.Reader
}

// Locator may be implemented by a RepoSource to say which pack holds a
// blob; VerifyRepo then names packs without a Check.
type Locator interface {
	Locate(t pack.BlobType, id fingerprint.ID) (pack.ID, bool)
}

// Checker may be implemented by a RepoSource (engine/repo's Repo): a
// whole-repository check that reports damaged blobs with their packs.
type Checker interface {
	Check(ctx context.Context) (*repo.Report, error)
}

// CacheDropper may be implemented by a RepoSource (engine/repo's Repo
// keeps recently opened bundles): VerifyRepo drops what it holds first, so
// every chunk it verifies is read from the disk during the verify.
type CacheDropper interface {
	DropCache()
}

// VerifyOptions tune VerifyRepo.
type VerifyOptions struct {
	// Percent is the share of the distinct data chunks to read (0 < N
	// < 100); anything else reads all. The choice is a pure function of
	// each chunk's ID and Seed, so a run is repeatable, and a new Seed
	// per run (e.g. the date) samples other chunks.
	Percent float64
	Seed    uint64
	// Snapshots limits the walk to these; nil: every snapshot.
	Snapshots []*snapshot.Snapshot
	// Workers read chunks at once; zero: GOMAXPROCS.
	Workers int
	// NoCheck: when damage is found and the source is not a Locator, do
	// not run its Check to name the damaged blobs' packs.
	NoCheck bool
}

// MaxUses caps the uses listed per damaged blob (BlobDamage.MoreUses
// counts the rest).
const MaxUses = 1000

// Use is one snapshot path that needs a blob: a file whose content
// includes the chunk, or a directory whose tree it is ("/" the root).
type Use struct {
	Snapshot fingerprint.ID
	Path     string
}

// BlobDamage is a damaged (or missing) blob and everything it affects.
type BlobDamage struct {
	Type pack.BlobType
	ID   fingerprint.ID
	// Pack holds the blob (zero: unknown, or no pack has it).
	Pack     pack.ID
	Err      error
	Uses     []Use // sorted by snapshot, then path
	MoreUses int
}

func (d BlobDamage) String() string {
	where := "pack unknown"
	if d.Pack != (pack.ID{}) {
		where = "pack " + d.Pack.String()
	}
	return fmt.Sprintf("%v %s (%s): %v; %d uses", d.Type, d.ID, where, d.Err, len(d.Uses)+d.MoreUses)
}

// RepoReport is what VerifyRepo found.
type RepoReport struct {
	Snapshots        int                // snapshots walked
	DamagedSnapshots []snapshot.Damaged // snapshot files that did not load
	Trees            int                // distinct directories read
	Chunks           int                // distinct data chunks referenced
	Sampled          int                // of them chosen to be read
	Read             int                // read and authenticated
	Bytes            int64              // their plaintext
	Damaged          []BlobDamage       // sorted by type, then ID
	// Check is the report of the repository check run to name packs
	// (nil if none ran); damage it found in referenced chunks that were
	// not sampled is in Damaged too.
	Check *repo.Report
}

// OK reports whether nothing was damaged.
func (r *RepoReport) OK() bool { return len(r.Damaged) == 0 && len(r.DamagedSnapshots) == 0 }

// Affected returns the snapshots that need a damaged blob, sorted.
func (r *RepoReport) Affected() []fingerprint.ID {
	var ids []fingerprint.ID
	for _, d := range r.Damaged {
		for _, u := range d.Uses {
			ids = append(ids, u.Snapshot)
		}
	}
	slices.SortFunc(ids, func(a, b fingerprint.ID) int { return slices.Compare(a[:], b[:]) })
	return slices.Compact(ids)
}

// Sampled reports whether VerifyRepo with percent and seed reads the
// chunk id.
func Sampled(id fingerprint.ID, percent float64, seed uint64) bool {
	if percent <= 0 || percent >= 100 {
		return true
	}
	x := mix(binary.LittleEndian.Uint64(id[:8]) ^ mix(seed))
	return float64(x%1_000_000) < percent*10_000
}

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// VerifyRepo verifies a whole repository (or opts.Snapshots): it reads
// and decodes every tree of every snapshot (each distinct tree once),
// then reads and authenticates Percent % of the distinct data chunks they
// name, chosen by Sampled (all of them by default), each checked against
// the length its tree records. Damage is reported precisely: each damaged
// blob with its type, ID, the pack holding it (from a Locator, or else
// from one repository Check run only when damage was found, unless
// NoCheck) and every snapshot and path that needs it (a second walk of
// the trees, only when damage was found). It writes nothing; the error is
// for the context and for failing to list snapshots.
func VerifyRepo(ctx context.Context, src RepoSource, opts VerifyOptions) (*RepoReport, error) {
	rep := &RepoReport{}
	if d, ok := src.(CacheDropper); ok {
		d.DropCache()
	}
	snaps := opts.Snapshots
	if snaps == nil {
		var err error
		snaps, rep.DamagedSnapshots, err = snapshot.List(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	rep.Snapshots = len(snaps)
	type key struct {
		t  pack.BlobType
		id fingerprint.ID
	}
	damaged := map[key]*BlobDamage{}
	addDamage := func(t pack.BlobType, id fingerprint.ID, err error) {
		if damaged[key{t, id}] == nil {
			damaged[key{t, id}] = &BlobDamage{Type: t, ID: id, Err: err}
		}
	}

	// Pass 1: every tree once, collecting the distinct chunks.
	chunks := map[fingerprint.ID]uint64{}
	var order []fingerprint.ID
	seen := map[fingerprint.ID]bool{}
	var walk func(id fingerprint.ID) error
	walk = func(id fingerprint.ID) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen[id] {
			return nil
		}
		seen[id] = true
		nodes, err := tree.Load(ctx, src, id)
		if err != nil {
			addDamage(pack.Tree, id, err)
			return nil
		}
		rep.Trees++
		for _, n := range nodes {
			if n.Type == tree.Dir {
				if err := walk(n.Subtree); err != nil {
					return err
				}
				continue
			}
			for _, e := range n.Content {
				if _, ok := chunks[e.ID]; !ok && !e.Hole {
					chunks[e.ID] = e.Length
					order = append(order, e.ID)
				}
			}
		}
		return nil
	}
	for _, s := range snaps {
		if err := walk(s.Tree); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	rep.Chunks = len(order)

	// Read the sample.
	sample := order[:0:0]
	for _, id := range order {
		if Sampled(id, opts.Percent, opts.Seed) {
			sample = append(sample, id)
		}
	}
	rep.Sampled = len(sample)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for ctx.Err() == nil {
				mu.Lock()
				if next >= len(sample) {
					mu.Unlock()
					return
				}
				id := sample[next]
				next++
				mu.Unlock()
				var err error
				buf, err = src.Get(ctx, pack.Data, id, buf[:0])
				if err == nil && uint64(len(buf)) != chunks[id] {
					err = fmt.Errorf("%d bytes, the tree says %d", len(buf), chunks[id])
				}
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						addDamage(pack.Data, id, err)
					}
				} else {
					rep.Read++
					rep.Bytes += int64(len(buf))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if len(damaged) == 0 {
		return rep, nil
	}

	// Name the packs.
	if loc, ok := src.(Locator); ok {
		for _, d := range damaged {
			d.Pack, _ = loc.Locate(d.Type, d.ID)
		}
	} else if chk, ok := src.(Checker); ok && !opts.NoCheck {
		cr, err := chk.Check(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify: check: %w", err)
		}
		rep.Check = cr
		for _, p := range cr.Problems {
			if p.Blob.IsZero() {
				continue
			}
			if d := damaged[key{p.Type, p.Blob}]; d != nil {
				d.Pack = p.Pack
			} else if _, ref := chunks[p.Blob]; (ref && p.Type == pack.Data) || (seen[p.Blob] && p.Type == pack.Tree) {
				damaged[key{p.Type, p.Blob}] = &BlobDamage{Type: p.Type, ID: p.Blob, Pack: p.Pack, Err: p.Err}
			}
		}
	}

	// Pass 2: who needs the damaged blobs. hits is memoized per tree, so
	// a directory shared by many snapshots is walked once.
	type hit struct {
		path string
		k    key
	}
	memo := map[fingerprint.ID][]hit{}
	var hits func(id fingerprint.ID) ([]hit, error)
	hits = func(id fingerprint.ID) ([]hit, error) {
		if h, ok := memo[id]; ok {
			return h, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var out []hit
		if damaged[key{pack.Tree, id}] != nil {
			out = append(out, hit{"", key{pack.Tree, id}})
		}
		nodes, err := tree.Load(ctx, src, id)
		if err == nil {
			for _, n := range nodes {
				p := "/" + n.Name
				if n.Type == tree.Dir {
					sub, err := hits(n.Subtree)
					if err != nil {
						return nil, err
					}
					for _, h := range sub {
						out = append(out, hit{p + h.path, h.k})
					}
					continue
				}
				var last fingerprint.ID
				for _, e := range n.Content {
					if !e.Hole && e.ID != last && damaged[key{pack.Data, e.ID}] != nil {
						out = append(out, hit{p, key{pack.Data, e.ID}})
						last = e.ID
					}
				}
			}
		}
		memo[id] = out
		return out, nil
	}
	for _, s := range snaps {
		hs, err := hits(s.Tree)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		for _, h := range hs {
			d := damaged[h.k]
			u := Use{Snapshot: s.ID, Path: cmp.Or(h.path, "/")}
			if n := len(d.Uses); n > 0 && d.Uses[n-1] == u {
				continue // a file with the chunk twice
			}
			if len(d.Uses) < MaxUses {
				d.Uses = append(d.Uses, u)
			} else {
				d.MoreUses++
			}
		}
	}
	for _, d := range damaged {
		slices.SortFunc(d.Uses, func(a, b Use) int {
			return cmp.Or(slices.Compare(a.Snapshot[:], b.Snapshot[:]), cmp.Compare(a.Path, b.Path))
		})
		d.Uses = slices.Compact(d.Uses)
		rep.Damaged = append(rep.Damaged, *d)
	}
	slices.SortFunc(rep.Damaged, func(a, b BlobDamage) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), slices.Compare(a.ID[:], b.ID[:]))
	})
	return rep, nil
}

package restore

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Trees   int   // directories read
	Files   int   // file nodes
	Chunks  int   // distinct chunks read and authenticated
	Bytes   int64 // their plaintext
	Damaged []Damage
}

// OK reports whether nothing was damaged.
func (v *VerifyReport) OK() bool { return len(v.Damaged) == 0 }

// Damage is a tree or chunk that failed, and the first snapshot path that
// needs it.
type Damage struct {
	Path string
	Type pack.BlobType
	ID   fingerprint.ID
	Err  error
}

func (d Damage) String() string {
	return fmt.Sprintf("%s: %v %s: %v", d.Path, d.Type, d.ID.Short(), d.Err)
}

// Verify re-reads and authenticates every tree and every chunk of snap
// (each distinct chunk once, GOMAXPROCS at a time), writing nothing: each
// blob must authenticate, decompress and hash to its ID (repo.Get), and a
// chunk must have the length its tree records. Damage is reported, not
// returned; the error is for the context only.
func Verify(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot) (*VerifyReport, error) {
	rep := &VerifyReport{}
	if d, ok := g.(CacheDropper); ok {
		d.DropCache() // read what is verified from the disk
	}
	chunks := map[fingerprint.ID]chunkUse{}
	var order []fingerprint.ID
	seenTrees := map[fingerprint.ID]bool{}
	var walk func(id fingerprint.ID, path string) error
	walk = func(id fingerprint.ID, path string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seenTrees[id] {
			return nil
		}
		seenTrees[id] = true
		nodes, err := tree.Load(ctx, g, id)
		if err != nil {
			rep.Damaged = append(rep.Damaged, Damage{Path: path + "/", Type: pack.Tree, ID: id, Err: err})
			return nil
		}
		rep.Trees++
		for _, n := range nodes {
			p := path + "/" + n.Name
			switch n.Type {
			case tree.Dir:
				if err := walk(n.Subtree, p); err != nil {
					return err
				}
			case tree.File, tree.Hardlink, tree.Image:
				rep.Files++
				for _, e := range n.Content {
					if e.Hole {
						continue
					}
					if _, ok := chunks[e.ID]; !ok {
						chunks[e.ID] = chunkUse{p, e.Length}
						order = append(order, e.ID)
					}
				}
			}
		}
		return nil
	}
	if err := walk(snap.Tree, ""); err != nil {
		return rep, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next int
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for ctx.Err() == nil {
				mu.Lock()
				if next >= len(order) {
					mu.Unlock()
					return
				}
				id := order[next]
				next++
				mu.Unlock()
				use := chunks[id] // read-only now
				var err error
				buf, err = g.Get(ctx, pack.Data, id, buf[:0])
				if err == nil && uint64(len(buf)) != use.length {
					err = fmt.Errorf("%d bytes, the tree says %d", len(buf), use.length)
				}
				mu.Lock()
				if err != nil {
					rep.Damaged = append(rep.Damaged, Damage{Path: use.path, Type: pack.Data, ID: id, Err: err})
				} else {
					rep.Chunks++
					rep.Bytes += int64(len(buf))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rep, ctx.Err()
}

type chunkUse struct {
	path   string
	length uint64
}

package remote

import (
	"context"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/tree"
)

// The vault lets a session read a blob once it has served the tree that
// lists it, and sends a bundle whole only when it may send every member
// (see engine/server). A restore reads trees as it walks, directory after
// directory, while the agent's bundles hold the small files of several
// neighbouring directories, so a restore asking for the first files of a
// bundle would get them one by one, as plaintext, because the directories
// of the others were not walked yet. LearnTrees reads the directory trees
// under a root ahead of the restore, so that the vault knows the whole
// restore's blobs early.

// learnWorkers is how many tree reads LearnTrees keeps in flight.
const learnWorkers = 4

// LearnTrees reads, in the background, every directory tree under root
// (a whole-snapshot restore: the snapshot's tree), level by level, and
// drops them; a failure stops it silently (the restore reports its own).
// For the snapshot's own tree it then opens the snapshot's parent, if it
// has one, and reads the parent's trees it has not read, those of its
// large files' chunks too: a bundle formed by the parent's backup also
// holds the files (or a disk image's blocks) changed or deleted since,
// and the vault sends it whole only if those are the client's to read
// too. Finish stops it and waits for it.
func (r *Reader) LearnTrees(ctx context.Context, root fingerprint.ID) {
	ctx, cancel := context.WithCancel(ctx)
	r.learnStop = cancel
	r.learnDone = make(chan struct{})
	go func() {
		defer close(r.learnDone)
		seen := map[fingerprint.ID]struct{}{}
		r.learn(ctx, cancel, root, seen, false)
		if root != r.snap.Tree || r.snap.Parent.IsZero() || ctx.Err() != nil {
			return
		}
		p, _, err := r.c.openSnapshot(ctx, r.snap.Parent, false)
		if err != nil {
			return
		}
		r.learn(ctx, cancel, p.Tree, seen, true)
	}()
}

// learn reads the directory trees under root not in seen, adding them,
// and with content the trees listing large files' chunks too (a restore
// reads those of the snapshot it restores itself; a parent's it does not).
func (r *Reader) learn(ctx context.Context, cancel context.CancelFunc, root fingerprint.ID, seen map[fingerprint.ID]struct{}, content bool) {
	level := []fingerprint.ID{root}
	for len(level) > 0 && ctx.Err() == nil {
		var mu sync.Mutex
		var next []fingerprint.ID
		add := func(id fingerprint.ID) { // under mu
			if _, ok := seen[id]; !ok {
				seen[id] = struct{}{}
				next = append(next, id)
			}
		}
		ids := make(chan fingerprint.ID)
		var wg sync.WaitGroup
		for range learnWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf []byte
				for id := range ids {
					b, err := r.c.getBlob(ctx, pack.Tree, id, buf[:0])
					if err != nil {
						cancel()
						continue
					}
					buf = b
					blob, err := tree.Decode(b)
					if err != nil {
						cancel()
						continue
					}
					mu.Lock()
					switch blob.Kind {
					case tree.KindNodes:
						for i := range blob.Nodes {
							n := &blob.Nodes[i]
							if !n.Subtree.IsZero() {
								add(n.Subtree)
							}
							if content {
								for _, id := range n.ContentBlobs {
									add(id)
								}
							}
						}
					case tree.KindParts:
						for _, id := range blob.Parts {
							add(id)
						}
					}
					mu.Unlock()
				}
			}()
		}
		for _, id := range level {
			select {
			case ids <- id:
			case <-ctx.Done():
			}
		}
		close(ids)
		wg.Wait()
		level = next
	}
}

// stopLearning stops LearnTrees, if it runs, and waits for it.
func (r *Reader) stopLearning() {
	if r.learnStop != nil {
		r.learnStop()
		<-r.learnDone
		r.learnStop = nil
	}
}

package repo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/zeebo/blake3"

	"keep/engine/index"
	"keep/engine/pack"
)

// Flush makes every blob accepted by a Put that returned before Flush was
// called durable and indexed: it writes the open packs (each durable
// before the next step), then an index file listing every written pack not
// yet in one. Only after Flush returns nil may anything that refers to
// those blobs (a snapshot) be written. An error means some of them may be
// missing (a pack could not be written: the loss is reported once, by this
// Flush) or not yet indexed (retried by the next Flush). Puts wait while
// Flush writes the open packs.
func (r *Repo) Flush(ctx context.Context) error {
	if err := r.checkOpen(true); err != nil {
		return err
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	// Every accepted bundled blob into an open pack, then take every
	// packer token: no Put is writing, every open pack is ours.
	err := r.sealOpenBundles(ctx)
	var held []*packer
	if err == nil {
		held, err = r.takePackers(ctx)
	}
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for _, p := range held {
		if p != nil {
			_ = r.finishPack(p) // a failure is recorded in r.lost
		}
	}
	// Read the losses while no Put can add one: every blob accepted
	// before this Flush is accounted for, and later losses are the next
	// Flush's to report. Then let Puts go on.
	r.mu.Lock()
	lost := r.lost
	r.lost = nil
	r.mu.Unlock()
	for range held {
		r.packers <- nil
	}

	var errs []error
	if lost != nil {
		errs = append(errs, lost)
	}
	if err := r.writeIndex(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		r.compact(ctx)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// takePackers takes every packer token, waiting for Puts that hold one.
// If ctx ends first, it gives back what it took and fails.
func (r *Repo) takePackers(ctx context.Context) ([]*packer, error) {
	held := make([]*packer, 0, r.opts.Packers)
	for range r.opts.Packers {
		select {
		case p := <-r.packers:
			held = append(held, p)
		case <-ctx.Done():
			for _, p := range held {
				r.packers <- p
			}
			return nil, ctx.Err()
		}
	}
	return held, nil
}

// writeIndex writes index files for every written pack no index file
// lists yet. On error the packs not yet written to a file stay queued.
// The caller holds flushMu.
func (r *Repo) writeIndex() error {
	r.mu.Lock()
	packs := r.unindexed
	r.unindexed, r.unindexedN = nil, 0
	r.mu.Unlock()
	for len(packs) > 0 {
		f, n := &index.File{}, 0
		for n < len(packs) && len(f.Blobs)+len(packs[n].blobs) <= index.MaxFileBlobs {
			f.AddPack(packs[n].id, packs[n].blobs)
			n++
		}
		if _, err := r.writeIndexFile(f); err != nil {
			r.mu.Lock()
			r.unindexed = append(packs, r.unindexed...)
			for _, p := range packs {
				r.unindexedN += len(p.blobs)
			}
			r.mu.Unlock()
			return err
		}
		packs = packs[n:]
	}
	return nil
}

// writeIndexFile writes f durably as a new index file named by its hash.
// The caller holds flushMu.
func (r *Repo) writeIndexFile(f *index.File) (string, error) {
	b, err := index.EncodeFile(r.metaSeal, f)
	if err != nil {
		return "", err
	}
	sum := blake3.Sum256(b)
	name := hex.EncodeToString(sum[:])
	if err := writeFile(r.fs, r.opts.Rand, indexPath(name), indexDir, b); err != nil {
		return "", fmt.Errorf("index file: %w", err)
	}
	r.indexFiles = append(r.indexFiles, indexFileInfo{name, len(f.Blobs)})
	r.nIndex.Store(int32(len(r.indexFiles)))
	return name, nil
}

// compact merges the small index files (under half of index.MaxFileBlobs
// blobs) into as few files as hold them, once there are more than
// maxIndexFiles of them. It merges files, not the in-memory index, so that
// every index file keeps listing complete packs (load relies on it). The
// merged files are written durably first and the old ones removed after,
// so a crash in between leaves duplicates, which load tolerates. Failure
// costs nothing but the merge; it is logged. The caller holds flushMu.
func (r *Repo) compact(ctx context.Context) {
	var small []indexFileInfo
	for _, fi := range r.indexFiles {
		if fi.blobs < index.MaxFileBlobs/2 {
			small = append(small, fi)
		}
	}
	if len(small) <= r.opts.maxIndexFiles {
		return
	}
	var merged []string
	out, inOut := &index.File{}, map[pack.ID]bool{}
	write := func() error {
		if len(out.Blobs) == 0 {
			return nil
		}
		_, err := r.writeIndexFile(out)
		out, inOut = &index.File{}, map[pack.ID]bool{}
		return err
	}
	for _, fi := range small {
		if err := ctx.Err(); err != nil {
			break
		}
		f, err := r.readIndexFile(fi.name)
		if err != nil {
			r.log.Warn("index compaction: cannot read an index file; it stays", "file", fi.name, "error", err)
			continue
		}
		if len(out.Blobs)+len(f.Blobs) > index.MaxFileBlobs {
			if err := write(); err != nil {
				r.log.Warn("index compaction failed; the old index files stay", "error", err)
				return
			}
		}
		appendPacks(out, f, inOut)
		merged = append(merged, fi.name)
	}
	if err := write(); err != nil {
		r.log.Warn("index compaction failed; the old index files stay", "error", err)
		return
	}
	// The merged files are durable; the old ones can go.
	for _, name := range merged {
		if err := r.fs.Remove(indexPath(name)); err != nil {
			r.log.Warn("index compaction could not remove an old index file", "file", name, "error", err)
			continue
		}
		r.indexFiles = slices.DeleteFunc(r.indexFiles, func(fi indexFileInfo) bool { return fi.name == name })
	}
	r.nIndex.Store(int32(len(r.indexFiles)))
	if err := r.fs.SyncDir(indexDir); err != nil {
		r.log.Warn("index compaction: sync failed", "error", err)
	}
	r.log.Debug("index files merged", "merged", len(merged), "files now", len(r.indexFiles))
}

// appendPacks appends the packs of f not yet in dst (whole packs: a file
// lists all of a pack's blobs) to dst.
func appendPacks(dst, f *index.File, in map[pack.ID]bool) {
	renum := make([]uint32, len(f.Packs))
	skip := make([]bool, len(f.Packs))
	for i, p := range f.Packs {
		if in[p] {
			skip[i] = true
			continue
		}
		in[p] = true
		renum[i] = uint32(len(dst.Packs))
		dst.Packs = append(dst.Packs, p)
	}
	for _, b := range f.Blobs {
		if !skip[b.Pack] {
			b.Pack = renum[b.Pack]
			dst.Blobs = append(dst.Blobs, b)
		}
	}
}

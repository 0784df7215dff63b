package repo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/zeebo/blake3"

	"keep/engine/index"
	"keep/engine/pack"
)

// load builds the in-memory index at Open: index files first, then the
// headers of packs that no index file lists (index files list complete
// packs, so a pack named by a readable file is fully indexed); entries of
// packs that are gone are dropped. When writing, what had to be rebuilt
// is written as a new index file before the damaged index files are
// removed.
func (r *Repo) load(ctx context.Context) error {
	names, err := readDir(r.fs, indexDir)
	if err != nil {
		return err
	}
	b := index.NewBuilder(0)
	var bad []string
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !isHexName(name) {
			r.log.Warn("ignoring a file that is not an index file", "file", indexPath(name))
			continue
		}
		f, err := r.readIndexFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a compaction since we listed (read-only)
		}
		if err == nil {
			err = b.AddFile(f)
		}
		if err != nil {
			r.log.Error("index file unreadable; its packs will be indexed from their headers", "file", name, "error", err)
			bad = append(bad, name)
			continue
		}
		r.indexFiles = append(r.indexFiles, indexFileInfo{name, len(f.Blobs)})
	}
	r.nIndex.Store(int32(len(r.indexFiles)))

	onDisk, shards, err := r.listPacks(ctx)
	if err != nil {
		return err
	}
	for _, id := range onDisk {
		if b.HasPack(id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		blobs, err := r.readPackHeader(id)
		if err == nil {
			err = b.AddPack(id, blobs)
		}
		if err != nil {
			r.log.Error("pack header unreadable; its blobs are not indexed (run Check)", "pack", id.String(), "error", err)
			continue
		}
		r.unindexed = append(r.unindexed, packBlobs{id, blobs})
		r.unindexedN += len(blobs)
	}

	present := make(map[pack.ID]struct{}, len(onDisk))
	for _, id := range onDisk {
		present[id] = struct{}{}
	}
	for _, id := range b.Packs() {
		if _, ok := present[id]; !ok {
			r.missing[id] = 0
		}
	}
	b.CountBlobs(r.missing)
	for id, n := range r.missing {
		r.log.Error("pack listed in the index is missing; its blobs are dropped from the index, so the next backup that has them stores them again (run Check)",
			"pack", id.String(), "blobs", n)
	}
	r.idx = b.Build(func(id pack.ID) bool {
		_, ok := present[id]
		return ok
	})
	if len(r.unindexed) > 0 {
		r.log.Warn("indexed packs that no index file listed", "packs", len(r.unindexed), "blobs", r.unindexedN)
	}
	if r.opts.ReadOnly {
		return nil
	}
	// What this Open found may have been left unsynced by a writer whose
	// process crashed: make durable what new writes will depend on. The
	// config and the data directory ("."), the shard directories (data/,
	// as ensureShard trusts them from now on) and the packs indexed from
	// their headers (below). Index files need no sync: one that a power
	// loss takes away only makes the next Open re-read its packs' headers.
	for _, d := range []string{".", dataDir} {
		if err := r.fs.SyncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	// The shard directories listed are now durable entries of data/.
	for _, b := range shards {
		r.shards[b] = true
	}
	if err := r.syncPacks(ctx, r.unindexed); err != nil {
		return err
	}

	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if err := r.writeIndex(); err != nil {
		return err
	}
	if len(bad) > 0 {
		// Every pack the damaged files listed whose header is readable
		// is now in a good file; the others are logged, and Check
		// reports them.
		for _, name := range bad {
			if err := r.fs.Remove(indexPath(name)); err != nil {
				r.log.Warn("cannot remove damaged index file", "file", name, "error", err)
			}
		}
		if err := r.fs.SyncDir(indexDir); err != nil {
			return fmt.Errorf("sync %s: %w", indexDir, err)
		}
		r.log.Warn("index rebuilt from pack headers; damaged index files removed", "files", len(bad))
	}
	r.compact(ctx)
	return nil
}

// syncPacks makes the packs' content and directory entries durable.
func (r *Repo) syncPacks(ctx context.Context, packs []packBlobs) error {
	dirs := map[string]bool{}
	for _, p := range packs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := r.fs.Open(packPath(p.id))
		if err != nil {
			return fmt.Errorf("sync pack %s: %w", p.id.Short(), err)
		}
		err = f.Sync()
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("sync pack %s: %w", p.id.Short(), err)
		}
		dirs[shardDir(p.id)] = true
	}
	for d := range dirs {
		if err := r.fs.SyncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

// readIndexFile reads and decodes index/name, checking that the file's
// hash is its name.
func (r *Repo) readIndexFile(name string) (*index.File, error) {
	b, err := readFile(r.fs, indexPath(name), int64(index.MaxFileSize))
	if err != nil {
		return nil, err
	}
	if sum := blake3.Sum256(b); hex.EncodeToString(sum[:]) != name {
		return nil, fmt.Errorf("%w: index file %s: content does not match its name", ErrCorrupt, name)
	}
	return index.DecodeFile(r.metaSeal, b)
}

// listPacks returns the IDs of the pack files in data/ and the shard
// directories it found, logging and skipping anything else.
func (r *Repo) listPacks(ctx context.Context) ([]pack.ID, []byte, error) {
	names, err := readDir(r.fs, dataDir)
	if err != nil {
		return nil, nil, err
	}
	var ids []pack.ID
	var shards []byte
	for _, shard := range names {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		sb, err := hex.DecodeString(shard)
		if err != nil || len(sb) != 1 || hex.EncodeToString(sb) != shard {
			r.log.Warn("ignoring an unexpected entry in data/", "name", shard)
			continue
		}
		shards = append(shards, sb[0])
		files, err := readDir(r.fs, dataDir+"/"+shard)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range files {
			id, err := pack.ParseID(n)
			if err != nil || !isHexName(n) || id[0] != sb[0] {
				r.log.Warn("ignoring a file that is not a pack", "file", dataDir+"/"+shard+"/"+n)
				continue
			}
			ids = append(ids, id)
		}
	}
	return ids, shards, nil
}

// readPackHeader reads the blob listing of pack id.
func (r *Repo) readPackHeader(id pack.ID) ([]pack.Blob, error) {
	f, err := r.fs.Open(packPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	return pack.ReadHeader(f, size, r.metaSeal)
}

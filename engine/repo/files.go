package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// Area is a directory of small, whole, sealed metadata files outside the
// packs, each named by the fingerprint of its plaintext: the objects a
// reader lists to find everything else (snapshots).
type Area string

// Areas.
const (
	// Snapshots holds one file per snapshot (engine/snapshot).
	Snapshots Area = "snapshots"
)

// typeSnapshotFile is the seal type of files in Snapshots (see the package
// doc's table).
const typeSnapshotFile seal.Type = 19

// MaxFileSize is the largest plaintext of a file in an Area.
const MaxFileSize = 4 << 20

// sealType returns the seal type of a's files, or 0 for an unknown area.
func (a Area) sealType() seal.Type {
	if a == Snapshots {
		return typeSnapshotFile
	}
	return 0
}

func (a Area) path(id fingerprint.ID) string { return string(a) + "/" + id.String() }

// Sum returns the repository's fingerprint of data: the ID Put expects.
func (r *Repo) Sum(data []byte) fingerprint.ID { return r.fp.Sum(data) }

// Cutter returns a chunker with the repository's chunk size bounds and
// gear-table seed: every writer must cut with it, so identical data cuts
// (and dedups) identically.
func (r *Repo) Cutter() (*chunker.Cutter, error) {
	return chunker.New(r.cfg.Chunker.Params(), r.gear)
}

// WriteFile stores data durably as a file of area a (sealed with the
// metadata key as the area's type) and returns its ID, the fingerprint of
// data, which names it. Writing the same data again is a no-op. The file
// is written to tmp/, fsynced, renamed into a/ and a/ is fsynced (a/ is
// created, and the repository directory fsynced, the first time); so when
// WriteFile returns nil the file is durable, and until then it is absent
// or whole. WriteFile does not Flush: a file that refers to blobs must be
// written only after a Flush that returned nil (see the package doc).
func (r *Repo) WriteFile(ctx context.Context, a Area, data []byte) (fingerprint.ID, error) {
	if err := r.checkOpen(true); err != nil {
		return fingerprint.ID{}, err
	}
	if err := ctx.Err(); err != nil {
		return fingerprint.ID{}, err
	}
	t := a.sealType()
	if t == 0 {
		return fingerprint.ID{}, fmt.Errorf("write file: unknown area %q", a)
	}
	if len(data) > MaxFileSize {
		return fingerprint.ID{}, fmt.Errorf("write %s file: %w: %d bytes, limit %d", a, ErrTooLarge, len(data), MaxFileSize)
	}
	id := r.fp.Sum(data)
	name := a.path(id)
	if f, err := r.fs.Open(name); err == nil {
		_ = f.Close()
		return id, nil
	}
	if err := r.fs.Mkdir(string(a)); err == nil {
		if err := r.fs.SyncDir("."); err != nil {
			return fingerprint.ID{}, fmt.Errorf("create %s: %w", a, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fingerprint.ID{}, fmt.Errorf("create %s: %w", a, err)
	}
	sealed, err := r.metaSeal.Seal(nil, t, id, data)
	if err != nil {
		return fingerprint.ID{}, fmt.Errorf("write %s: %w", name, err)
	}
	if err := writeFile(r.fs, r.opts.Rand, name, string(a), sealed); err != nil {
		return fingerprint.ID{}, err
	}
	return id, nil
}

// ReadFile reads, authenticates and returns the file id of area a. A
// missing file is ErrNotFound; one that fails to authenticate (damage, a
// file renamed to another's name, a wrong area) or whose plaintext does
// not hash to its name is ErrCorrupt.
func (r *Repo) ReadFile(ctx context.Context, a Area, id fingerprint.ID) ([]byte, error) {
	if err := r.checkOpen(false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := a.sealType()
	if t == 0 {
		return nil, fmt.Errorf("read file: unknown area %q", a)
	}
	name := a.path(id)
	b, err := readFile(r.fs, name, MaxFileSize+seal.Overhead)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", name, ErrCorrupt, err)
	}
	plain, err := r.metaSeal.Open(nil, t, id, b, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", name, ErrCorrupt, err)
	}
	if r.fp.Sum(plain) != id {
		return nil, fmt.Errorf("read %s: %w: content does not match its name", name, ErrCorrupt)
	}
	return plain, nil
}

// ListFiles returns the IDs of area a's files, sorted. Names that are not
// IDs (foreign files) are ignored; a missing area is empty.
func (r *Repo) ListFiles(ctx context.Context, a Area) ([]fingerprint.ID, error) {
	if err := r.checkOpen(false); err != nil {
		return nil, err
	}
	if a.sealType() == 0 {
		return nil, fmt.Errorf("list files: unknown area %q", a)
	}
	names, err := readDir(r.fs, string(a))
	if err != nil {
		return nil, err
	}
	ids := make([]fingerprint.ID, 0, len(names))
	for _, n := range names {
		if id, err := fingerprint.Parse(n); err == nil && isHexName(n) {
			ids = append(ids, id)
		}
	}
	return ids, ctx.Err()
}

// RemoveFile removes the file id of area a durably (the area directory is
// fsynced). A missing file is not an error.
func (r *Repo) RemoveFile(ctx context.Context, a Area, id fingerprint.ID) error {
	if err := r.checkOpen(true); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.sealType() == 0 {
		return fmt.Errorf("remove file: unknown area %q", a)
	}
	if err := r.fs.Remove(a.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", a.path(id), err)
	}
	if err := r.fs.SyncDir(string(a)); err != nil {
		return fmt.Errorf("remove %s: %w", a.path(id), err)
	}
	return nil
}

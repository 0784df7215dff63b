package repo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"keep/engine/pack"
)

// The repository's layout, relative to its directory:
//
//	config              the sealed config; written last by Init
//	lock                held (flock) by the one Repo open for writing
//	data/<xx>/<pack>    pack files, <xx> the first byte of the pack ID in hex
//	index/<name>        index files, <name> the BLAKE3 hash of the file
//	tmp/                files being written; removed at Open
const (
	configName = "config"
	lockName   = "lock"
	dataDir    = "data"
	indexDir   = "index"
	tmpDir     = "tmp"
)

func shardDir(id pack.ID) string { return dataDir + "/" + hex.EncodeToString(id[:1]) }

func packPath(id pack.ID) string { return shardDir(id) + "/" + id.String() }

func indexPath(name string) string { return indexDir + "/" + name }

// tmpPath returns a fresh name in tmp/.
func tmpPath(r io.Reader, kind string) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("temporary name: %w", err)
	}
	return tmpDir + "/" + kind + "-" + hex.EncodeToString(b[:]), nil
}

// randomReader is the default randomness.
func randomReader() io.Reader { return rand.Reader }

// isHexName reports whether s is 64 lowercase hex digits (a pack or index
// file name).
func isHexName(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeFile writes data to name durably: a new file in tmp/, synced,
// renamed into place, and the target directory synced. On failure the
// temporary file is removed (best effort) and name is either absent or
// complete.
func writeFile(fsys FS, r io.Reader, name, dir string, data []byte) error {
	tmp, err := tmpPath(r, "file")
	if err != nil {
		return err
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// mkdir creates dir if it is missing.
func mkdir(fsys FS, dir string) error {
	if err := fsys.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

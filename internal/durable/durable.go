// Package durable writes small files so that a crash leaves either the old
// content or the new, never a torn file: the data goes to a temporary file
// in the same directory, which is fsynced, renamed over the target, and
// the directory is fsynced so the rename itself survives a power loss.
//
// It serves the small state files of the engine and the agent (job
// records, the CA's state, credentials, grants, key files); the
// repository has its own ordering (engine/repo) through its FS seam.
package durable

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces dir/name with data, created with perm, durably.
// On error the target is unchanged and no temporary file is left.
func WriteFile(dir, name string, data []byte, perm os.FileMode) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+name+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (creations, renames, removals)
// durable.
func SyncDir(dir string) error { return Sync(dir) }

// Sync fsyncs the file or directory at p.
func Sync(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

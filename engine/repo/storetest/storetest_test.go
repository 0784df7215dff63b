package storetest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/repo"
	"keep/engine/repo/memfs"
	"keep/engine/repo/storetest"
)

// localFS is repo.DirFS with the Corrupter capability, which a test can
// give a local directory by editing the file behind the FS's back.
type localFS struct {
	repo.FS
	root string
}

func (l localFS) Corrupt(name string, off int64) error {
	p := filepath.Join(l.root, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if off < 0 {
		off += int64(len(b))
	}
	if off < 0 || off >= int64(len(b)) {
		return fmt.Errorf("corrupt %s: offset %d outside %d bytes", name, off, len(b))
	}
	b[off] ^= 0x20
	return os.WriteFile(p, b, 0o600)
}

// TestDirFS runs the suite on the local filesystem: everything but the
// PowerLoss and ProcessCrash capabilities, which a real directory cannot
// simulate.
func TestDirFS(t *testing.T) {
	storetest.Run(t, func(t *testing.T) repo.FS {
		dir := t.TempDir()
		return localFS{repo.DirFS(dir), dir}
	}, storetest.Options{})
}

// TestMemFS runs the suite, every capability included, on memfs.
func TestMemFS(t *testing.T) {
	seed := uint64(0)
	storetest.Run(t, func(t *testing.T) repo.FS {
		seed++
		return memfs.New(seed)
	}, storetest.Options{})
}

// The capabilities memfs offers.
var (
	_ storetest.PowerLosser    = (*memfs.FS)(nil)
	_ storetest.ProcessCrasher = (*memfs.FS)(nil)
	_ storetest.Corrupter      = (*memfs.FS)(nil)
)

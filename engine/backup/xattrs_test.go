package backup

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/repo"
	"keep/engine/tree"
)

// TestMetaFromParent: an incremental backup takes the xattrs and symlink
// targets of entries whose inode and ctime match the parent's from the
// parent instead of reading them; an entry whose xattrs or target changed
// (which sets its ctime) is read again.
func TestMetaFromParent(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	f, d, l := filepath.Join(src, "f"), filepath.Join(src, "d"), filepath.Join(src, "l")
	must(t, os.WriteFile(f, []byte("x"), 0o644))
	must(t, os.Mkdir(d, 0o755))
	must(t, os.Symlink("t1", l))
	if err := unix.Lsetxattr(f, "user.a", []byte("1"), 0); err != nil {
		t.Fatalf("user xattrs on %s (the test needs a filesystem with them): %v", f, err)
	}
	must(t, unix.Lsetxattr(d, "user.b", []byte("dir"), 0))

	var mu sync.Mutex
	var read []string
	opts := Options{Hostname: "h", readMeta: func(p string) {
		mu.Lock()
		read = append(read, filepath.Base(p))
		mu.Unlock()
	}}
	// backupOnce backs src up with parent (nil: none) as the parent,
	// its start moved later by shift: the entries' ctimes are then that
	// much older than it (the racy check wants a second).
	backupOnce := func(parent *Result, shift time.Duration) (*Result, map[string]tree.Node) {
		t.Helper()
		read = nil
		o := opts
		if parent != nil {
			p := *parent.Snapshot
			p.Time = p.Time.Add(shift)
			o.Parent = &p
		}
		res, err := Run(ctx, r, []string{src}, o)
		must(t, err)
		return res, loadDir(t, r, res.Snapshot.Tree)
	}
	check := func(nodes map[string]tree.Node, fval, target string) {
		t.Helper()
		if x := nodes["f"].Xattrs; len(x) != 1 || x[0].Name != "user.a" || string(x[0].Value) != fval {
			t.Errorf("f's xattrs %+v, want user.a=%s", x, fval)
		}
		if x := nodes["d"].Xattrs; len(x) != 1 || string(x[0].Value) != "dir" {
			t.Errorf("d's xattrs %+v", x)
		}
		if got := nodes["l"].LinkTarget; got != target {
			t.Errorf("l's target %q, want %q", got, target)
		}
	}
	first, nodes := backupOnce(nil, 0)
	check(nodes, "1", "t1")
	if len(read) != 4 { // src, d, f, l
		t.Fatalf("full backup read the metadata of %v, want all 4 entries", read)
	}
	_, nodes = backupOnce(first, 0)
	check(nodes, "1", "t1")
	if len(read) != 4 {
		t.Fatalf("unchanged incremental, ctimes within a second of the parent's start: read the metadata of %v, want all 4 again", read)
	}
	second, nodes := backupOnce(first, 2*time.Second)
	check(nodes, "1", "t1")
	if len(read) != 0 {
		t.Fatalf("unchanged incremental read the metadata of %v, want none", read)
	}
	must(t, unix.Lsetxattr(f, "user.a", []byte("2"), 0))
	must(t, os.Remove(l))
	must(t, os.Symlink("t2", l))
	_, nodes = backupOnce(second, 2*time.Second)
	check(nodes, "2", "t2")
	mu.Lock()
	defer mu.Unlock()
	got := map[string]bool{}
	for _, p := range read {
		got[p] = true
	}
	if len(read) != 3 || !got["f"] || !got["l"] || !got[filepath.Base(src)] {
		t.Fatalf("after changing f's xattr and l's target, read %v, want f, l and their directory", read)
	}
}

// TestMetaChangedBeforeOpen: a file whose xattr changes between the walk's
// lstat and its open is recorded with the open's times and the xattrs read
// again, so no later incremental keeps the old ones.
func TestMetaChangedBeforeOpen(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	f := filepath.Join(src, "f")
	must(t, os.WriteFile(f, []byte("x"), 0o644))
	if err := unix.Lsetxattr(f, "user.a", []byte("1"), 0); err != nil {
		t.Fatalf("user xattrs on %s (the test needs a filesystem with them): %v", f, err)
	}
	changed := false
	open := func(p string) (*os.File, error) {
		if p == f && !changed {
			changed = true
			must(t, unix.Lsetxattr(f, "user.a", []byte("2"), 0))
		}
		return os.Open(p)
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h", openFile: open})
	must(t, err)
	for i := range 2 {
		if x := loadDir(t, r, res.Snapshot.Tree)["f"].Xattrs; len(x) != 1 || string(x[0].Value) != "2" {
			t.Fatalf("backup %d: f's xattrs %+v, the file has user.a=2", i+1, x)
		}
		p := *res.Snapshot
		p.Time = p.Time.Add(2 * time.Second) // past the racy check
		res, err = Run(ctx, r, []string{src}, Options{Hostname: "h", Parent: &p})
		must(t, err)
	}
}

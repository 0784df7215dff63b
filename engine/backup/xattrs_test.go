package backup

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
	backupOnce := func(parent *Result) (*Result, map[string]tree.Node) {
		t.Helper()
		read = nil
		o := opts
		if parent != nil {
			o.Parent = parent.Snapshot
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
	first, nodes := backupOnce(nil)
	check(nodes, "1", "t1")
	if len(read) != 4 { // src, d, f, l
		t.Fatalf("full backup read the metadata of %v, want all 4 entries", read)
	}
	second, nodes := backupOnce(first)
	check(nodes, "1", "t1")
	if len(read) != 0 {
		t.Fatalf("unchanged incremental read the metadata of %v, want none", read)
	}
	must(t, unix.Lsetxattr(f, "user.a", []byte("2"), 0))
	must(t, os.Remove(l))
	must(t, os.Symlink("t2", l))
	_, nodes = backupOnce(second)
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

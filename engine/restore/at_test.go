package restore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"keep/engine/tree"
)

// TestSubtreesNeverFollowLinks: of two subtrees restored with the same
// name, the first a symlink out of the target and the second a directory,
// the directory replaces the link; the second's files are not written
// through it (a snapshot restored from another client's grant can hold
// such a pair).
func TestSubtreesNeverFollowLinks(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	victim := t.TempDir()
	body := []byte("from the snapshot")
	a := tr.save([]tree.Node{{Name: "x", Type: tree.Symlink, LinkTarget: victim, Mode: 0o777}})
	bx := tr.save([]tree.Node{{Name: "f", Type: tree.File, Size: uint64(len(body)), Content: tr.data(body), Mode: 0o644}})
	b := tr.save([]tree.Node{{Name: "x", Type: tree.Dir, Subtree: bx, Mode: 0o755}})
	root := tr.save([]tree.Node{{Name: "a", Type: tree.Dir, Subtree: a, Mode: 0o755}, {Name: "b", Type: tree.Dir, Subtree: b, Mode: 0o755}})
	snap := tr.snap(root)

	target := t.TempDir()
	res, err := RestoreSubs(ctx, tr.r, snap, []string{"a/x", "b/x"}, target, Options{})
	must(t, err)
	if len(res.Failed) != 0 {
		t.Fatalf("failed: %+v", res.Failed)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("written through the first subtree's symlink: %s holds %v", victim, ents)
	}
	if got, err := os.ReadFile(filepath.Join(target, "x", "f")); err != nil || string(got) != string(body) {
		t.Fatalf("x/f: %q %v", got, err)
	}
}

// TestRestoreAtDescriptor: RestoreSubsAt writes into the directory it was
// given open, whatever its path leads to by then (here a symlink to
// another directory), and names failures by the name it was given.
func TestRestoreAtDescriptor(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	body := []byte("content")
	sub := tr.save([]tree.Node{
		{Name: "f", Type: tree.File, Size: uint64(len(body)), Content: tr.data(body), Mode: 0o644},
		{Name: "sock", Type: tree.Socket, Mode: 0o644},
	})
	snap := tr.snap(tr.save([]tree.Node{{Name: "d", Type: tree.Dir, Subtree: sub, Mode: 0o755}}))

	base := t.TempDir()
	dir, victim := filepath.Join(base, "dir"), filepath.Join(base, "victim")
	must(t, os.Mkdir(dir, 0o700))
	must(t, os.Mkdir(victim, 0o700))
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, os.Rename(dir, dir+".moved"))
	must(t, os.Symlink(victim, dir))

	res, err := RestoreSubsAt(ctx, tr.r, snap, []string{""}, fd, "/shown", Options{})
	must(t, err)
	if len(res.Failed) != 1 || res.Failed[0].Path != "/shown/d/sock" {
		t.Fatalf("failed %+v, want the socket only, as /shown/d/sock", res.Failed)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("written through the directory's old path: %v", ents)
	}
	if got, err := os.ReadFile(filepath.Join(dir+".moved", "d", "f")); err != nil || string(got) != string(body) {
		t.Fatalf("d/f in the directory: %q %v", got, err)
	}
}

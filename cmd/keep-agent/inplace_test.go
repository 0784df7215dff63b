package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"keep/engine/backup"
	"keep/engine/chunker"
	"keep/engine/keys"
	"keep/engine/repo"
)

// TestInPlaceBackupOfRoot: an in-place restore of a backup of / (its
// node is named "root") merges into / itself, not into /root. The test
// seam root stands for /; the snapshot is of a directory named "root"
// whose recorded path is made "/".
func TestInPlaceBackupOfRoot(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "root")
	must(t, os.MkdirAll(filepath.Join(src, "etc", "app"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "etc", "app", "app.conf"), []byte("good"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "hello"), []byte("hi"), 0o644))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	snap := *res.Snapshot
	snap.Paths = []string{"/"}

	fake := t.TempDir() // "/"
	must(t, os.MkdirAll(filepath.Join(fake, "etc", "app"), 0o755))
	must(t, os.WriteFile(filepath.Join(fake, "etc", "app", "app.conf"), []byte("corrupted"), 0o644))
	must(t, os.WriteFile(filepath.Join(fake, "mine"), []byte("not in the backup"), 0o644))
	rs := &restorer{ctx: ctx, g: r, snap: &snap, policy: overwriteAlways, root: fake}
	must(t, rs.inPlace(nil))
	if len(rs.res.Failed) != 0 {
		t.Fatalf("failed: %+v", rs.res.Failed)
	}
	for p, want := range map[string]string{"etc/app/app.conf": "good", "hello": "hi", "mine": "not in the backup"} {
		if b, err := os.ReadFile(filepath.Join(fake, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", p, b, err, want)
		}
	}
	ents, err := os.ReadDir(fake)
	must(t, err)
	for _, e := range ents {
		if e.Name() == "root" || strings.HasPrefix(e.Name(), stagingPrefix) {
			t.Errorf("left in /: %s", e.Name())
		}
	}
}

// TestHardLinksAcrossSelectedPaths: a file hard-linked from two selected
// paths is restored once, with both names (one restore for all paths).
func TestHardLinksAcrossSelectedPaths(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "a"), 0o755))
	must(t, os.MkdirAll(filepath.Join(src, "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a", "f"), []byte("shared"), 0o644))
	must(t, os.Link(filepath.Join(src, "a", "f"), filepath.Join(src, "b", "g")))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	target := t.TempDir()
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteAlways}
	must(t, rs.outOfPlace(target, []string{"src/a", "src/b"}))
	if len(rs.res.Failed) != 0 {
		t.Fatalf("failed: %+v", rs.res.Failed)
	}
	var f, g unix.Stat_t
	must(t, unix.Stat(filepath.Join(target, "a", "f"), &f))
	must(t, unix.Stat(filepath.Join(target, "b", "g"), &g))
	if f.Ino != g.Ino || f.Nlink != 2 {
		t.Fatalf("a/f inode %d (%d links), b/g inode %d: want one file with two names", f.Ino, f.Nlink, g.Ino)
	}
}

// TestMergeDirXattrs: an in-place restore with --overwrite always over an
// existing directory gives it the snapshot's mode and extended attributes
// (those it lacks set, those the snapshot lacks removed).
func TestMergeDirXattrs(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	d := filepath.Join(src, "d")
	must(t, os.MkdirAll(d, 0o755))
	must(t, os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644))
	if err := unix.Lsetxattr(d, "user.tag", []byte("v"), 0); err != nil {
		t.Fatalf("user xattrs on %s (the test needs a filesystem with them): %v", d, err)
	}
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	must(t, unix.Lremovexattr(d, "user.tag"))
	must(t, unix.Lsetxattr(d, "user.other", []byte("x"), 0))
	must(t, os.Chmod(d, 0o700))
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteAlways}
	must(t, rs.inPlace([]string{"src/d"}))
	if len(rs.res.Failed) != 0 {
		t.Fatalf("failed: %+v", rs.res.Failed)
	}
	got, err := listXattrs(d)
	must(t, err)
	if len(got) != 1 || string(got["user.tag"]) != "v" {
		t.Fatalf("xattrs of the merged directory: %q", got)
	}
	fi, err := os.Stat(d)
	must(t, err)
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", fi.Mode().Perm())
	}
}

// TestInPlaceAcrossMountPoint: an in-place restore of a tree with a
// filesystem mounted inside it restores what is below the mount point
// too (a rename out of the staging directory cannot cross it). Needs root
// to mount a tmpfs, as make test runs.
func TestInPlaceAcrossMountPoint(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	data := filepath.Join(src, "data")
	must(t, os.MkdirAll(data, 0o755))
	mountTmpfs(t, data, "")
	must(t, os.MkdirAll(filepath.Join(data, "inner"), 0o755))
	must(t, os.WriteFile(filepath.Join(data, "inner", "f"), []byte("below the mount"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "top"), []byte("above"), 0o644))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	must(t, os.RemoveAll(filepath.Join(data, "inner")))
	must(t, os.Remove(filepath.Join(src, "top")))
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteNever}
	must(t, rs.inPlace(nil))
	if len(rs.res.Failed) != 0 || rs.res.Files != 2 || rs.res.Dirs != 3 {
		t.Fatalf("restored %d files, %d directories (want 2, 3), failed %+v", rs.res.Files, rs.res.Dirs, rs.res.Failed)
	}
	for p, want := range map[string]string{filepath.Join(data, "inner", "f"): "below the mount", filepath.Join(src, "top"): "above"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", p, b, err, want)
		}
	}
	for _, d := range []string{src, data} {
		ents, err := os.ReadDir(d)
		must(t, err)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), stagingPrefix) {
				t.Errorf("staging left in %s: %s", d, e.Name())
			}
		}
	}
}

// mountTmpfs mounts a 16 MiB tmpfs with opts (comma-separated, "" none)
// on dir until the test ends. It needs root, as make test runs.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, strings.TrimSuffix("size=16m,"+opts, ",")); err != nil {
		t.Fatalf("mount a tmpfs on %s (the test needs root): %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

// newTestRepo makes a repository in a temporary directory.
func newTestRepo(t *testing.T) *repo.Repo {
	t.Helper()
	m, err := keys.NewMaster(crand.Reader)
	must(t, err)
	r, err := repo.Init(context.Background(), repo.DirFS(t.TempDir()), m, repo.Options{Chunker: chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}})
	must(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// TestOpenDest: as root, a restore's destination may go through root's
// symlinks (relative and absolute), not through another user's; missing
// directories are made; a file on the way is an error.
func TestOpenDest(t *testing.T) {
	d := t.TempDir()
	must(t, os.Mkdir(filepath.Join(d, "real"), 0o755))
	must(t, os.WriteFile(filepath.Join(d, "file"), nil, 0o644))
	must(t, os.Symlink(filepath.Join(d, "real"), filepath.Join(d, "rootlink")))
	must(t, os.Symlink("real", filepath.Join(d, "rellink")))
	must(t, os.Symlink(filepath.Join(d, "real"), filepath.Join(d, "userlink")))
	must(t, os.Symlink("loop", filepath.Join(d, "loop")))
	asRoot := os.Geteuid() == 0
	if asRoot {
		must(t, os.Lchown(filepath.Join(d, "userlink"), 1000, 1000))
	}
	for p, want := range map[string]string{
		filepath.Join(d, "real", "x", "y"):     filepath.Join(d, "real", "x", "y"),
		filepath.Join(d, "rootlink", "x"):      filepath.Join(d, "real", "x"),
		filepath.Join(d, "rellink", "..", "z"): filepath.Join(d, "z"),
		filepath.Join(d, "userlink"):           "refused",
		filepath.Join(d, "userlink", "x", "y"): "refused",
		filepath.Join(d, "file", "x"):          "not a directory",
		filepath.Join(d, "loop", "x"):          "too many levels",
	} {
		if !asRoot && want == "refused" {
			// Not root: the kernel's own checks apply; a user's link
			// is followed.
			want = filepath.Join(d, "real", strings.TrimPrefix(p, filepath.Join(d, "userlink")))
		}
		fd, err := openDest(p, nil)
		if err != nil {
			if want == "refused" {
				var lr *refusedError
				if !errors.As(err, &lr) || !strings.Contains(err.Error(), "owned by uid 1000") {
					t.Errorf("%s: %v, want refused", p, err)
				}
			} else if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %s", p, err, want)
			}
			continue
		}
		got, _ := os.Readlink(fdPath(fd))
		_ = unix.Close(fd)
		if got != filepath.Clean(want) {
			t.Errorf("%s opened %s, want %s", p, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailuresNamedAtDestination: an item the restore could not make is
// reported where it was to go, not inside the staging directory.
func TestFailuresNamedAtDestination(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "run"), 0o755))
	l, err := net.Listen("unix", filepath.Join(src, "run", "sock"))
	must(t, err)
	defer l.Close()
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	target := t.TempDir()
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteAlways}
	must(t, rs.outOfPlace(target, nil))
	want := filepath.Join(target, "src", "run", "sock")
	if len(rs.res.Failed) != 1 || rs.res.Failed[0].Path != want {
		t.Fatalf("failed %+v, want the socket as %s", rs.res.Failed, want)
	}
}

// TestWorldWritableMountRefused: below a mount point whose filesystem has
// no directory only root can change (a tmpfs mounted 0777), a restore as
// root has nowhere users cannot reach to stage in: that subtree is
// reported, the rest of the tree restored.
func TestWorldWritableMountRefused(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	data := filepath.Join(src, "data")
	must(t, os.MkdirAll(data, 0o755))
	mountTmpfs(t, data, "mode=0777")
	must(t, os.WriteFile(filepath.Join(data, "f"), []byte("below"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "top"), []byte("above"), 0o644))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	must(t, os.Remove(filepath.Join(data, "f")))
	must(t, os.Remove(filepath.Join(src, "top")))
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteNever}
	must(t, rs.inPlace(nil))
	if len(rs.res.Failed) != 1 || rs.res.Failed[0].Path != "/src/data" || !strings.Contains(rs.res.Failed[0].Reason, "only root can change") {
		t.Fatalf("failed %+v, want /src/data refused", rs.res.Failed)
	}
	if b, err := os.ReadFile(filepath.Join(src, "top")); err != nil || string(b) != "above" {
		t.Fatalf("top: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(data, "f")); !os.IsNotExist(err) {
		t.Fatalf("data/f restored where users could have moved the staging: %v", err)
	}
}

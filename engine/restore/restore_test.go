package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHandBuiltTree restores trees the archiver rarely makes: a file with
// a content list long enough to live in extent blobs, a file of holes only
// and a hard link whose first name is outside the restored path.
func TestHandBuiltTree(t *testing.T) {
	ctx := context.Background()
	m, err := keys.NewMaster(rand.Reader)
	must(t, err)
	r, err := repo.Init(ctx, repo.DirFS(t.TempDir()), m, repo.Options{Chunker: chunker.Params{Min: 64, Avg: 256, Max: 1024}})
	must(t, err)
	defer r.Close(ctx)

	var want bytes.Buffer
	var content []tree.Extent
	for i := range 5000 {
		if i%100 == 50 {
			content = append(content, tree.Extent{Hole: true, Length: 8192})
			want.Write(make([]byte, 8192))
			continue
		}
		b := []byte{byte(i), byte(i >> 8), 'x'}
		id := r.Sum(b)
		_, err := r.Put(ctx, pack.Data, id, b)
		must(t, err)
		content = append(content, tree.Extent{ID: id, Length: 3})
		want.Write(b)
	}
	saver := &tree.Saver{Store: r}
	mt := time.Date(2024, 2, 3, 4, 5, 6, 789, time.UTC).UnixNano()
	sub, err := saver.Save(ctx, []tree.Node{
		{Name: "copy", Type: tree.Hardlink, LinkTarget: "top/long", Size: uint64(want.Len()), Content: content, Mode: 0o600, MTime: mt, ATime: mt},
	})
	must(t, err)
	top, err := saver.Save(ctx, []tree.Node{
		{Name: "holes", Type: tree.File, Size: 1 << 20, Content: []tree.Extent{{Hole: true, Length: 1 << 20}}, Mode: 0o644, MTime: mt, ATime: mt},
		{Name: "long", Type: tree.File, Size: uint64(want.Len()), Content: content, Mode: 0o640, MTime: mt, ATime: mt, Links: 2},
		{Name: "sub", Type: tree.Dir, Subtree: sub, Mode: 0o755},
	})
	must(t, err)
	root, err := saver.Save(ctx, []tree.Node{{Name: "top", Type: tree.Dir, Subtree: top, Mode: 0o755}})
	must(t, err)
	snap := &snapshot.Snapshot{Version: snapshot.Version, Time: time.Now(), Hostname: "h", Tree: root, Job: snapshot.Full}
	must(t, snapshot.Save(ctx, r, snap))

	dst := t.TempDir()
	res, err := Restore(ctx, r, snap, "", dst, Options{})
	must(t, err)
	if len(res.Failed) != 0 {
		t.Fatal(res.Failed)
	}
	got, err := os.ReadFile(filepath.Join(dst, "top", "long"))
	must(t, err)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("long file differs")
	}
	var a, b unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, "top", "long"), &a))
	must(t, unix.Stat(filepath.Join(dst, "top", "sub", "copy"), &b))
	if a.Ino != b.Ino || a.Mtim.Nano() != mt {
		t.Fatalf("hard link: inodes %d %d, mtime %d", a.Ino, b.Ino, a.Mtim.Nano())
	}
	var h unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, "top", "holes"), &h))
	if h.Size != 1<<20 || h.Blocks != 0 {
		t.Fatalf("hole file: size %d, %d blocks", h.Size, h.Blocks)
	}

	// Only the sub-path: the hard link's first name is not restored, so
	// its content is written.
	dst2 := t.TempDir()
	_, err = Restore(ctx, r, snap, "top/sub", dst2, Options{})
	must(t, err)
	got, err = os.ReadFile(filepath.Join(dst2, "sub", "copy"))
	must(t, err)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("hard link content differs")
	}
	if _, err := Restore(ctx, r, snap, "top/nope", dst2, Options{}); err == nil {
		t.Fatal("missing path restored")
	}
	v, err := Verify(ctx, r, snap)
	must(t, err)
	if !v.OK() || v.Chunks != 4950 || v.Files != 3 {
		t.Fatalf("verify: %+v", v)
	}
}

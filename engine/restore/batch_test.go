package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/tree"
)

// batchGetter is a BatchGetter over a repository that fails one chunk,
// as a damaged chunk does, and counts its batches.
type batchGetter struct {
	t       *testing.T
	r       *repo.Repo
	bad     fingerprint.ID
	batches atomic.Int64
	// lost: the connection is lost after this many blobs (0: never).
	lost, sent atomic.Int64
}

func (g *batchGetter) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if t == pack.Data {
		g.t.Errorf("data blob %s read alone, not in a batch", id.Short())
	}
	return g.r.Get(ctx, t, id, dst)
}

func (g *batchGetter) GetBatch(ctx context.Context, ids []fingerprint.ID, each func(int, []byte, error) error) error {
	g.batches.Add(1)
	for i, id := range ids {
		if l := g.lost.Load(); l > 0 && g.sent.Add(1) > l {
			return errors.New("connection lost")
		}
		b, err := g.r.Get(ctx, pack.Data, id, nil)
		if id == g.bad {
			b, err = nil, repo.ErrCorrupt
		}
		if err := each(i, b, err); err != nil {
			return err
		}
	}
	return nil
}

// TestBatchGetter: with a BatchGetter, Restore reads each run of a file's
// chunks in one batch, and a damaged chunk fails its file (removed, never
// wrong bytes) while the others are restored.
func TestBatchGetter(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	content := map[string][]byte{}
	var nodes []tree.Node
	var chunks int
	for _, name := range []string{"a", "b", "c"} {
		b := bytes.Repeat([]byte(name+" is a file of many chunks; "), 4000) // 100 KiB: 360 chunks
		content[name] = b
		n := tree.Node{Name: name, Type: tree.File, Size: uint64(len(b)), Content: tr.data(b), Mode: 0o600}
		chunks += len(n.Content)
		nodes = append(nodes, n)
	}
	g := &batchGetter{t: t, r: tr.r, bad: nodes[1].Content[200].ID}
	target := t.TempDir()
	res, err := Restore(ctx, g, tr.snap(tr.save(nodes)), "", target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].Path != filepath.Join(target, "b") || !strings.Contains(res.Failed[0].Reason, "corrupt") {
		t.Fatalf("failed items %+v, want b", res.Failed)
	}
	if _, err := os.Lstat(filepath.Join(target, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file with the damaged chunk was left behind: %v", err)
	}
	for _, name := range []string{"a", "c"} {
		got, err := os.ReadFile(filepath.Join(target, name))
		if err != nil || !bytes.Equal(got, content[name]) {
			t.Fatalf("%s restored wrong: %v", name, err)
		}
	}
	// Runs of about runBytes: each file's 100 KiB in one batch here.
	if n := g.batches.Load(); n == 0 || n > 3 {
		t.Fatalf("%d batches for 3 files of %d chunks", n, chunks)
	}
}

// TestBatchLost: when a batch fails as a whole (the connection is lost),
// every file with a piece not yet written fails and is removed; those
// written before are whole.
func TestBatchLost(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	content := map[string][]byte{}
	var nodes []tree.Node
	for i := range 40 {
		name := fmt.Sprintf("f%02d", i)
		b := bytes.Repeat([]byte(name+" is small; "), 50+i*40)
		content[name] = b
		nodes = append(nodes, tree.Node{Name: name, Type: tree.File, Size: uint64(len(b)), Content: tr.data(b), Mode: 0o600})
	}
	g := &batchGetter{t: t, r: tr.r}
	g.lost.Store(300)
	target := t.TempDir()
	res, err := Restore(ctx, g, tr.snap(tr.save(nodes)), "", target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, f := range res.Failed {
		if !strings.Contains(f.Reason, "connection lost") {
			t.Fatalf("%s failed: %s", f.Path, f.Reason)
		}
		failed[filepath.Base(f.Path)] = true
	}
	if len(failed) == 0 || len(failed) == len(nodes) {
		t.Fatalf("%d of %d files failed: the loss should fail some", len(failed), len(nodes))
	}
	for name, want := range content {
		got, err := os.ReadFile(filepath.Join(target, name))
		switch {
		case failed[name] && !errors.Is(err, os.ErrNotExist):
			t.Fatalf("%s failed but is left behind: %v", name, err)
		case !failed[name] && (err != nil || !bytes.Equal(got, want)):
			t.Fatalf("%s not failed but restored wrong: %v", name, err)
		}
	}
}

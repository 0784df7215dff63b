package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/tree"
)

// TestFileChangedWhileRead: a file that changes while it is read is read
// again until it holds still; one that never does (or is too large to
// read again) is stored as read and reported, with the times from before
// that read, so the next backup reads it again.
func TestFileChangedWhileRead(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	files := map[string][]byte{
		"stable": pseudo(1, 3000),
		"once":   pseudo(2, 3000),    // appended to during its first read only
		"always": pseudo(3, 3000),    // appended to during every read
		"big":    pseudo(4, 200<<10), // over rereadBelow: read once
	}
	for n, b := range files {
		must(t, os.WriteFile(filepath.Join(src, n), b, 0o644))
	}
	var mu sync.Mutex
	reads := map[string]int{}
	appendTo := func(p string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = f.Write([]byte("+"))
		must(t, err)
		must(t, f.Close())
	}
	during := func(p string) {
		mu.Lock()
		defer mu.Unlock()
		name := filepath.Base(p)
		reads[name]++
		if name == "always" || name == "big" || (name == "once" && reads[name] == 1) {
			appendTo(p)
		}
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h", duringRead: during, rereadBelow: 100 << 10})
	must(t, err)
	if want := map[string]int{"stable": 1, "once": 2, "always": 1 + maxRereads, "big": 1}; !mapsEqual(reads, want) {
		t.Fatalf("reads %v, want %v", reads, want)
	}
	reasons := map[string]string{}
	for _, s := range res.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	if len(reasons) != 2 || !strings.Contains(reasons["always"], "changed while it was read each of the 3 times") ||
		!strings.Contains(reasons["big"], "changed while it was read: stored as read") {
		t.Fatalf("skipped %+v", res.Skipped)
	}
	nodes := loadDir(t, r, res.Snapshot.Tree)
	for name, n := range nodes {
		got := content(t, r, n)
		fi, err := os.Stat(filepath.Join(src, name))
		must(t, err)
		switch name {
		case "stable", "once":
			// The content of the file now, and its times.
			want, err := os.ReadFile(filepath.Join(src, name))
			must(t, err)
			if !bytes.Equal(got, want) || n.MTime != fi.ModTime().UnixNano() {
				t.Errorf("%s: %d bytes, mtime %d; want %d bytes, mtime %d", name, len(got), n.MTime, len(want), fi.ModTime().UnixNano())
			}
		case "always", "big":
			// As read, after the last append; its times from before it.
			if int64(len(got)) != fi.Size() || n.Size != uint64(len(got)) || n.MTime == fi.ModTime().UnixNano() {
				t.Errorf("%s: %d bytes (node %d), mtime %d; file %d bytes, mtime %d", name, len(got), n.Size, n.MTime, fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}

	// The next backup reads the two reported files again, not the others.
	clear(reads)
	res2, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Parent: res.Snapshot, duringRead: func(p string) {
		mu.Lock()
		reads[filepath.Base(p)]++
		mu.Unlock()
	}})
	must(t, err)
	if want := map[string]int{"always": 1, "big": 1}; !mapsEqual(reads, want) || len(res2.Skipped) != 0 {
		t.Fatalf("second backup read %v (want %v), skipped %+v", reads, want, res2.Skipped)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// loadDir returns the nodes of the snapshot's one backed-up directory.
func loadDir(t *testing.T, r *repo.Repo, root [32]byte) map[string]tree.Node {
	t.Helper()
	ctx := context.Background()
	top, err := tree.Load(ctx, r, root)
	must(t, err)
	nodes, err := tree.Load(ctx, r, top[0].Subtree)
	must(t, err)
	out := map[string]tree.Node{}
	for _, n := range nodes {
		out[n.Name] = n
	}
	return out
}

// content reads a file node's content from r.
func content(t *testing.T, r *repo.Repo, n tree.Node) []byte {
	t.Helper()
	var b []byte
	for _, e := range n.Content {
		d, err := r.Get(context.Background(), pack.Data, e.ID, nil)
		must(t, err)
		b = append(b, d...)
	}
	return b
}

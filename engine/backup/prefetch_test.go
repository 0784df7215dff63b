package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
)

// slowTrees is a Store whose tree reads take a while, as a round trip to
// the vault does, and which records how many overlap at most.
type slowTrees struct {
	*repo.Repo
	mu            sync.Mutex
	inflight, max int
	reads         int
}

func (s *slowTrees) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if t != pack.Tree {
		return s.Repo.Get(ctx, t, id, dst)
	}
	s.mu.Lock()
	s.inflight++
	s.reads++
	s.max = max(s.max, s.inflight)
	s.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // the round trip: reads ahead overlap it
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	return s.Repo.Get(ctx, t, id, dst)
}

// TestParentTreesReadAhead: an incremental backup reads the parent trees
// of a directory's subdirectories ahead, several at once, instead of one
// round trip after another as the walk reaches each; every one is read
// once, and the backup is the same.
func TestParentTreesReadAhead(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := filepath.Join(t.TempDir(), "src")
	for i := range 6 {
		for j := range 5 {
			d := filepath.Join(src, fmt.Sprintf("d%d", i), fmt.Sprintf("e%d", j))
			must(t, os.MkdirAll(d, 0o755))
			must(t, os.WriteFile(filepath.Join(d, "f"), []byte(d), 0o644))
		}
	}
	first, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	must(t, err)
	s := &slowTrees{Repo: r}
	second, err := Run(ctx, s, []string{src}, Options{Hostname: "h", Parent: first.Snapshot})
	must(t, err)
	if second.Snapshot.Tree != first.Snapshot.Tree || second.Snapshot.Summary.FilesUnchanged != 30 {
		t.Fatalf("incremental of an unchanged tree: tree %s (parent %s), %d files unchanged",
			second.Snapshot.Tree.Short(), first.Snapshot.Tree.Short(), second.Snapshot.Summary.FilesUnchanged)
	}
	// The root, src, 6 d's and 30 e's: each read once.
	if s.reads != 38 {
		t.Fatalf("%d parent tree reads, want 38 (each once)", s.reads)
	}
	if s.max < 2 {
		t.Fatalf("parent trees were read one at a time (at most %d at once)", s.max)
	}
}

// TestBufClass: classes rise by half steps from 16 KiB to 4 MiB, every
// length gets the smallest class that holds it, and longer ones none.
func TestBufClass(t *testing.T) {
	prev := 0
	for k := range numBufClasses {
		_, c := bufClass(prev + 1)
		if kk, cc := bufClass(c); kk != k || cc != c {
			t.Fatalf("class %d: capacity %d maps to class %d (%d)", k, c, kk, cc)
		}
		if prev > 0 && (c*2 > prev*3 || c <= prev) {
			t.Fatalf("class %d: capacity %d after %d, want at most a half step", k, c, prev)
		}
		prev = c
	}
	if _, c := bufClass(1); c != 16<<10 {
		t.Fatalf("smallest class %d bytes", c)
	}
	if prev != 4<<20 {
		t.Fatalf("largest class %d bytes, want 4 MiB", prev)
	}
	if k, _ := bufClass(4<<20 + 1); k != -1 {
		t.Fatalf("4 MiB + 1 byte in class %d", k)
	}
	if _, c := bufClass(1100 << 10); c != 3<<19 {
		t.Fatalf("a 1.1 MiB chunk takes %d bytes, want 1.5 MiB", c)
	}
}

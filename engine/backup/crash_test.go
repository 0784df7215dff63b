package backup

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

var passphrase = []byte("crash test")

// crashHelper is the process TestCrashBeforeCommit kills (TestMain runs
// it when KEEP_CRASH_REPO is set): it backs up $KEEP_CRASH_SRC into
// $KEEP_CRASH_REPO and SIGKILLs itself after the $KEEP_CRASH_AT-th stored
// chunk, or just before the commit if that is 0. Surviving is a failure
// (exit status 1), which the parent reports.
func crashHelper(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash helper:", err)
		os.Exit(1)
	}
	kb, err := os.ReadFile(filepath.Join(dir, "..", "key"))
	if err != nil {
		fail(err)
	}
	kf, err := keys.Decode(kb)
	if err != nil {
		fail(err)
	}
	m, err := kf.Unlock(passphrase)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	// Small packs and bundles, so that the small tree fills several
	// before the kill: what they hold is durable and not sent again.
	r, err := repo.Open(ctx, repo.DirFS(dir), m, repo.Options{PackSize: 64 << 10, BundleSize: 16 << 10})
	if err != nil {
		fail(err)
	}
	at, _ := strconv.Atoi(os.Getenv("KEEP_CRASH_AT"))
	kill := func() error { return syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	var stored atomic.Int64
	opts := Options{Hostname: "h", beforeCommit: kill, chunkStored: func() {
		if stored.Add(1) == int64(at) {
			_ = kill()
		}
	}}
	_, err = Run(ctx, r, []string{os.Getenv("KEEP_CRASH_SRC")}, opts)
	fail(fmt.Errorf("survived: %v", err))
}

func TestCrashBeforeCommit(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	kf, m, _, err := keys.Create(crand.Reader, passphrase, keys.InsecureTestKDF())
	must(t, err)
	kb, err := kf.Encode()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(base, "key"), kb, 0o600))
	dir := filepath.Join(base, "repo")
	must(t, os.Mkdir(dir, 0o700))
	r, err := repo.Init(ctx, repo.DirFS(dir), m, repo.Options{Chunker: testChunker})
	must(t, err)
	must(t, r.Close(ctx))
	src := makeTree(t, base)

	// Killed after the 5th and the 30th stored chunk, then just before
	// the commit; each time the repository checks clean and holds no
	// snapshot.
	for _, at := range []int{5, 30, 0} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "KEEP_CRASH_REPO="+dir, "KEEP_CRASH_SRC="+src, "KEEP_CRASH_AT="+strconv.Itoa(at))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper (at %d) was not killed: %v\n%s", at, err, out)
		}
		r, err = repo.Open(ctx, repo.DirFS(dir), m, repo.Options{ReadOnly: true})
		must(t, err)
		snaps, damaged, err := snapshot.List(ctx, r)
		if err != nil || len(snaps) != 0 || len(damaged) != 0 {
			t.Fatalf("after the crash at %d: %d snapshots, %d damaged, %v", at, len(snaps), len(damaged), err)
		}
		rep, err := r.Check(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("check after the crash at %d: %+v %v", at, rep, err)
		}
		must(t, r.Close(ctx))
	}

	r, err = repo.Open(ctx, repo.DirFS(dir), m, repo.Options{})
	must(t, err)
	defer r.Close(ctx)
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	must(t, err)
	v, err := restore.Verify(ctx, r, res.Snapshot)
	if err != nil || !v.OK() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if s := res.Snapshot.Summary; s.ChunksNew >= int64(v.Chunks) {
		t.Errorf("the backup after the crash stored %d of %d chunks again", s.ChunksNew, v.Chunks)
	} else {
		t.Logf("after the crash: %d of %d chunks stored again", s.ChunksNew, v.Chunks)
	}
	target := t.TempDir()
	if _, err := restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
}

// faultyGetter fails Get for one blob, as a damaged chunk does.
type faultyGetter struct {
	tree.Getter
	bad fingerprint.ID
}

func (f faultyGetter) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if id == f.bad {
		return dst, fmt.Errorf("get %s: %w", id.Short(), repo.ErrCorrupt)
	}
	return f.Getter.Get(ctx, t, id, dst)
}

func TestDamagedChunk(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := makeTree(t, t.TempDir())
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	must(t, err)
	root, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	nodes, err := tree.Load(ctx, r, root[0].Subtree)
	must(t, err)
	var bad fingerprint.ID
	for _, n := range nodes {
		if n.Name == "big.bin" {
			bad = n.Content[3].ID
		}
	}
	g := faultyGetter{r, bad}
	v, err := restore.Verify(ctx, g, res.Snapshot)
	must(t, err)
	if len(v.Damaged) != 1 || v.Damaged[0].ID != bad || v.Damaged[0].Path != "/src/big.bin" || !errors.Is(v.Damaged[0].Err, repo.ErrCorrupt) {
		t.Fatalf("verify: %+v", v.Damaged)
	}
	target := t.TempDir()
	rr, err := restore.Restore(ctx, g, res.Snapshot, "", target, restore.Options{})
	must(t, err)
	if len(rr.Failed) != 2 { // big.bin and the socket
		t.Fatalf("failed: %+v", rr.Failed)
	}
	if _, err := os.Lstat(filepath.Join(target, "src", "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("damaged file left behind: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(target, "src", "sub", "deep", "file")); err != nil {
		t.Fatalf("the rest was not restored: %v", err)
	}
}

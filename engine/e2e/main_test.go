package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/repo"
	"keep/engine/snapshot"
)

var long = flag.Bool("long", false, "long runs: 50 crash iterations (or KEEP_CRASH_ITER)")

// agentBin is the keep-agent binary TestMain builds.
var agentBin string

func TestMain(m *testing.M) {
	if dir := os.Getenv(envVault); dir != "" {
		os.Exit(vaultMain(dir))
	}
	flag.Parse()
	tmp, err := os.MkdirTemp("", "keep-e2e-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(tmp, "keep-agent")
	if err := buildAgent(agentBin); err != nil {
		fmt.Fprintln(os.Stderr, "build keep-agent:", err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// buildAgent builds cmd/keep-agent statically, as it ships.
func buildAgent(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, "keep/cmd/keep-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, b)
	}
	return nil
}

// result is one run of keep-agent.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// agent runs keep-agent with args and stdin, with a deadline.
func agent(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("keep-agent %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("keep-agent %v timed out\n%s", args, r)
	}
	return r
}

// agentOK runs keep-agent and fails the test unless it exits with want.
func agentOK(t *testing.T, want int, stdin io.Reader, args ...string) result {
	t.Helper()
	r := agent(t, stdin, args...)
	if r.code != want {
		t.Fatalf("keep-agent %v: want exit %d\n%s", args, want, r)
	}
	return r
}

// summary is keep-agent backup --json's output.
type summary struct {
	Snapshot    string           `json:"snapshot"`
	Parent      string           `json:"parent"`
	Job         snapshot.JobType `json:"job"`
	Files       int64            `json:"files"`
	BytesSeen   int64            `json:"bytes_seen"`
	BytesRead   int64            `json:"bytes_read"`
	BytesNew    int64            `json:"bytes_new"`
	BytesSent   int64            `json:"bytes_sent"`
	BlobsSent   int64            `json:"blobs_sent"`
	DedupRatio  float64          `json:"dedup_ratio"`
	Compression float64          `json:"compression_ratio"`
	Skipped     []struct {
		Path, Reason string
	} `json:"skipped"`
}

func parseJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

var jobRE = regexp.MustCompile(`\(job (\S+),`)

// jobOf returns the vault job ID a backup printed.
func jobOf(r result) string {
	m := jobRE.FindStringSubmatch(r.stderr)
	if m == nil {
		return ""
	}
	return m[1]
}

// readJobs reads the vault's job records from its directory.
func readJobs(t *testing.T, vaultDir string) map[string]*jobs.Job {
	t.Helper()
	dir := filepath.Join(vaultDir, "jobs")
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jobs.Job{}
	for _, n := range names {
		if !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		j, err := jobs.Decode(b)
		if err != nil {
			t.Fatalf("job file %s: %v", n.Name(), err)
		}
		out[j.ID] = j
	}
	return out
}

// waitJob waits until the vault's record of job id satisfies ok.
func waitJob(t *testing.T, vaultDir, id string, ok func(*jobs.Job) bool) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := readJobs(t, vaultDir)[id]
		if j != nil && ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: condition not met in 30 s; record: %+v", id, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRepo opens the stopped vault's repository read-only (no
// recovery: it sees exactly what the crash left), checks every pack and
// lists the snapshots, which must all load.
func checkRepo(t *testing.T, vaultDir string) []*snapshot.Snapshot {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(vaultDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	kf, err := keys.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := kf.Unlock([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, repo.DirFS(filepath.Join(vaultDir, "repo")), m, repo.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open repository: %v", err)
	}
	defer r.Close(ctx)
	rep, err := r.Check(ctx)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("repository damaged: %d problems: %v", rep.Damaged, rep.Problems)
	}
	snaps, damaged, err := snapshot.List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(damaged) > 0 {
		t.Fatalf("damaged snapshots: %v", damaged)
	}
	return snaps
}

// ---- trees ----

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// randBytes is n bytes from r: half text-like (compressible), half
// random, so compression and dedup both have something to do.
func randBytes(r *rand.Rand, n int, compressible bool) []byte {
	b := make([]byte, n)
	for i := range b {
		if compressible && i%64 < 40 {
			b[i] = byte('a' + r.IntN(8))
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

func writeFile(t *testing.T, p string, data []byte, mode os.FileMode, mtime time.Time) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, mode))
	must(t, os.Chmod(p, mode))
	must(t, os.Chtimes(p, mtime, mtime))
}

// tree describes what makeTree made, for the assertions.
type genTree struct {
	root     string
	files    map[string][]byte // regular files by path relative to root
	sparse   string
	fifo     string
	device   string // "" when not root
	xattr    string // "" when the filesystem has no user xattrs
	longName string
}

// makeTree generates a tree with every file type under dir/src.
func makeTree(t *testing.T, dir string, seed uint64) *genTree {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	g := &genTree{root: filepath.Join(dir, "src"), files: map[string][]byte{}}
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	for i := range 24 {
		rel := filepath.Join(fmt.Sprintf("d%d", i%4), fmt.Sprintf("sub%d", i%3), fmt.Sprintf("f%02d.bin", i))
		n := 100 + r.IntN(400<<10)
		if i == 0 {
			n = 3 << 20 // several chunks
		}
		data := randBytes(r, n, i%2 == 0)
		writeFile(t, filepath.Join(g.root, rel), data, 0o640, base.Add(time.Duration(i)*time.Hour))
		g.files[rel] = data
	}
	writeFile(t, filepath.Join(g.root, "notes.txt"), []byte("hello keep\n"), 0o644, base)
	g.files["notes.txt"] = []byte("hello keep\n")
	writeFile(t, filepath.Join(g.root, "empty"), nil, 0o600, base)
	g.files["empty"] = []byte{}
	writeFile(t, filepath.Join(g.root, "exec.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755, base)
	g.files["exec.sh"] = []byte("#!/bin/sh\necho hi\n")
	// Sparse: 16 MiB with 128 KiB of data at 4 MiB and at the end.
	g.sparse = "sparse.img"
	sp := filepath.Join(g.root, g.sparse)
	f, err := os.Create(sp)
	must(t, err)
	chunk := randBytes(r, 128<<10, false)
	_, err = f.WriteAt(chunk, 4<<20)
	must(t, err)
	_, err = f.WriteAt(chunk[:1000], 16<<20-1000)
	must(t, err)
	must(t, f.Close())
	want := make([]byte, 16<<20)
	copy(want[4<<20:], chunk)
	copy(want[16<<20-1000:], chunk[:1000])
	g.files[g.sparse] = want
	// Hard links: three names of one file, one in another directory.
	writeFile(t, filepath.Join(g.root, "hl", "a"), []byte("linked content\n"), 0o644, base)
	must(t, os.Link(filepath.Join(g.root, "hl", "a"), filepath.Join(g.root, "hl", "b")))
	must(t, os.Link(filepath.Join(g.root, "hl", "a"), filepath.Join(g.root, "d0", "hl-c")))
	for _, p := range []string{"hl/a", "hl/b", "d0/hl-c"} {
		g.files[p] = []byte("linked content\n")
	}
	// Symlinks: relative, absolute, dangling.
	must(t, os.Symlink("d0/sub0", filepath.Join(g.root, "link-dir")))
	must(t, os.Symlink("/etc/hostname", filepath.Join(g.root, "link-abs")))
	must(t, os.Symlink("does/not/exist", filepath.Join(g.root, "link-dangling")))
	// FIFO.
	g.fifo = "pipe"
	must(t, unix.Mkfifo(filepath.Join(g.root, g.fifo), 0o620))
	must(t, os.Chmod(filepath.Join(g.root, g.fifo), 0o620))
	// Device node (root only).
	if os.Geteuid() == 0 {
		g.device = "null-dev"
		must(t, unix.Mknod(filepath.Join(g.root, g.device), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(t, os.Chmod(filepath.Join(g.root, g.device), 0o666))
		must(t, os.Lchown(filepath.Join(g.root, "notes.txt"), 1234, 5678)) // owners
	}
	// Long names: 255 bytes, in a nested directory.
	g.longName = filepath.Join("long", strings.Repeat("n", 200)+"-"+strings.Repeat("é", 27))
	writeFile(t, filepath.Join(g.root, g.longName), []byte("long name\n"), 0o644, base)
	g.files[g.longName] = []byte("long name\n")
	// Xattrs.
	xp := filepath.Join(g.root, "notes.txt")
	if err := unix.Lsetxattr(xp, "user.keep.test", []byte("value-1"), 0); err == nil {
		g.xattr = "notes.txt"
		must(t, unix.Lsetxattr(xp, "user.keep.other", []byte{0, 1, 2, 255}, 0))
	} else {
		t.Logf("no user xattrs on this filesystem (%v): not tested", err)
	}
	// Directory modes and times, set last (children change them).
	must(t, os.Chmod(filepath.Join(g.root, "d1"), 0o750))
	_ = filepath.WalkDir(g.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			must(t, os.Chtimes(p, base, base))
		}
		return nil
	})
	return g
}

// compareTrees checks that got has exactly want's entries with the same
// type, mode, owner, size, mtime (ns), content, link target, device
// number and xattrs, and that hard links are links.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	names := func(root string) []string {
		var out []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			must(t, err)
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
			return nil
		})
		sort.Strings(out)
		return out
	}
	wn, gn := names(want), names(got)
	if !slices.Equal(wn, gn) {
		t.Fatalf("entries differ:\nwant %q\ngot  %q", wn, gn)
	}
	inodes := map[uint64]uint64{} // want inode -> got inode
	for _, rel := range wn {
		p, q := filepath.Join(want, rel), filepath.Join(got, rel)
		var a, b unix.Stat_t
		must(t, unix.Lstat(p, &a))
		must(t, unix.Lstat(q, &b))
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid {
			t.Fatalf("%s: mode/owner %o %d:%d vs %o %d:%d", rel, a.Mode, a.Uid, a.Gid, b.Mode, b.Uid, b.Gid)
		}
		typ := a.Mode & unix.S_IFMT
		if typ != unix.S_IFDIR && a.Size != b.Size {
			t.Fatalf("%s: size %d vs %d", rel, a.Size, b.Size)
		}
		if a.Mtim != b.Mtim {
			t.Fatalf("%s: mtime %v vs %v", rel, a.Mtim, b.Mtim)
		}
		switch typ {
		case unix.S_IFREG:
			x, y := readFile(t, p), readFile(t, q)
			if !bytes.Equal(x, y) {
				t.Fatalf("%s: content differs", rel)
			}
			if a.Nlink > 1 {
				if gi, ok := inodes[a.Ino]; ok && gi != b.Ino {
					t.Fatalf("%s: hard link not restored as a link", rel)
				}
				inodes[a.Ino] = b.Ino
				if a.Nlink != b.Nlink {
					t.Fatalf("%s: %d links vs %d", rel, a.Nlink, b.Nlink)
				}
			}
		case unix.S_IFLNK:
			x, _ := os.Readlink(p)
			y, _ := os.Readlink(q)
			if x != y {
				t.Fatalf("%s: link %q vs %q", rel, x, y)
			}
		case unix.S_IFCHR, unix.S_IFBLK:
			if a.Rdev != b.Rdev {
				t.Fatalf("%s: rdev %x vs %x", rel, a.Rdev, b.Rdev)
			}
		}
		if xa, xb := xattrs(t, p), xattrs(t, q); !equalMaps(xa, xb) {
			t.Fatalf("%s: xattrs %q vs %q", rel, xa, xb)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func xattrs(t *testing.T, p string) map[string]string {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || strings.HasPrefix(name, "security.") {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		must(t, err)
		out[name] = string(v[:m])
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}

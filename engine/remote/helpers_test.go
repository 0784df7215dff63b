package remote

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"keep/engine/backup"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/server"
)

var testChunker = chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// vault is a server on 127.0.0.1 over a repository in a temp dir.
type vault struct {
	dir   string
	repo  *repo.Repo
	ca    *enrol.CA
	jobs  *jobs.Log
	srv   *server.Server
	addr  string
	clock *clock
	ended chan server.SessionInfo
	stop  func() error

	grantMu sync.Mutex
	grants  map[[2]string]bool // {reader, owner}: the server's MayRead
}

// grant lets reader read owner's snapshots (an operator's grant).
func (v *vault) grant(reader, owner string) {
	v.grantMu.Lock()
	defer v.grantMu.Unlock()
	v.grants[[2]string{reader, owner}] = true
}

func (v *vault) mayRead(reader, owner string) bool {
	v.grantMu.Lock()
	defer v.grantMu.Unlock()
	return v.grants[[2]string{reader, owner}]
}

func newVault(t testing.TB) *vault {
	t.Helper()
	return newVaultWith(t, repo.Options{Chunker: testChunker})
}

// newVaultWith is newVault with its repository's options.
func newVaultWith(t testing.TB, opts repo.Options) *vault {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := keys.NewMaster(crand.Reader)
	must(t, err)
	must(t, os.Mkdir(filepath.Join(dir, "repo"), 0o700))
	r, err := repo.Init(ctx, repo.DirFS(filepath.Join(dir, "repo")), m, opts)
	must(t, err)
	t.Cleanup(func() { _ = r.Close(ctx) })
	c := &clock{t: time.Now()}
	ca, err := enrol.Open(enrol.Options{Dir: filepath.Join(dir, "ca"), Now: c.now})
	must(t, err)
	jl, err := jobs.Open(filepath.Join(dir, "jobs"), jobs.Options{Now: c.now})
	must(t, err)
	v := &vault{dir: dir, repo: r, ca: ca, jobs: jl, clock: c, ended: make(chan server.SessionInfo, 1000), grants: map[[2]string]bool{}}
	sub := m.Subkeys()
	v.srv = &server.Server{Repo: r, CA: ca, Jobs: jl, Clock: c.now, FingerprintKey: sub.Fingerprint, GearSeed: sub.Gear,
		Hosts: []string{"127.0.0.1"}, SessionDone: func(i server.SessionInfo) { v.ended <- i }, MayRead: v.mayRead}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	v.addr = ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.srv.Serve(sctx, ln) }()
	var once sync.Once
	var serr error
	v.stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() { _ = v.stop() })
	return v
}

// enrolAgent enrols client name and returns its credentials.
func (v *vault) enrolAgent(t testing.TB, name string) *Credentials {
	t.Helper()
	tok, err := v.ca.NewToken(name, v.addr, time.Hour)
	must(t, err)
	cr, err := Enrol(context.Background(), tok, Options{})
	must(t, err)
	return cr
}

func (v *vault) dial(t testing.TB, cr *Credentials, opts Options) *Client {
	t.Helper()
	c, err := Dial(context.Background(), v.addr, cr, opts)
	must(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitSession waits for the end of the session that ran job.
func (v *vault) waitSession(t testing.TB, job string) server.SessionInfo {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case i := <-v.ended:
			if i.JobID == job {
				return i
			}
		case <-timeout:
			t.Fatalf("session of job %s did not end", job)
		}
	}
}

// restoreAll restores snapshot id of client whole, over c, into a new
// directory it returns, and finishes the restore job; a failed item fails
// the test.
func restoreAll(t *testing.T, c *Client, id fingerprint.ID, client string) (*Reader, string) {
	t.Helper()
	return restoreWith(t, c, id, client, false)
}

// restoreWith is restoreAll that, with learn, first has the Reader learn
// the snapshot's trees (LearnTrees) and waits until it has.
func restoreWith(t *testing.T, c *Client, id fingerprint.ID, client string, learn bool) (*Reader, string) {
	t.Helper()
	ctx := context.Background()
	rd, err := c.OpenRestore(ctx, id, "", client)
	must(t, err)
	if learn {
		rd.LearnTrees(ctx, rd.Snapshot().Tree)
		<-rd.learnDone
	}
	target := t.TempDir()
	rres, err := restore.Restore(ctx, rd, rd.Snapshot(), "", target, restore.Options{})
	must(t, err)
	must(t, rd.Finish(ctx, nil, nil))
	if len(rres.Failed) > 0 {
		t.Fatalf("restore failed items: %+v", rres.Failed)
	}
	return rd, target
}

// backupImage backs the disk image img up whole over c (incremental
// against parent, if not zero).
func backupImage(t *testing.T, c *Client, img string, parent fingerprint.ID) *backup.Result {
	t.Helper()
	ctx := context.Background()
	st, err := c.NewStore(ctx, Job{Hostname: "web1", Paths: []string{img}, Parent: parent})
	must(t, err)
	res, err := backup.Run(ctx, st, nil, backup.Options{Hostname: "web1", Images: []string{img}, Parent: st.Parent(), Progress: st.Progress})
	must(t, st.Finish(ctx, res, err))
	must(t, err)
	return res
}

// restoredImage returns the content of the one file restored under dir.
func restoredImage(t *testing.T, dir string) []byte {
	t.Helper()
	var got []byte
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			got, err = os.ReadFile(p)
		}
		return err
	}))
	return got
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pseudo(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		if i%64 < 40 {
			b[i] = byte('a' + r.IntN(6))
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// makeTree generates files, directories and symlinks under dir/src
// (totalling about size bytes) and returns the path.
func makeTree(t testing.TB, dir string, size int) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	for i := 0; size > 0; i++ {
		sub := filepath.Join(src, fmt.Sprintf("d%02d", i%7), fmt.Sprintf("e%d", i%3))
		must(t, os.MkdirAll(sub, 0o755))
		n := min(size, 1000+(i*7919)%(300<<10))
		must(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", i)), pseudo(uint64(i), n), 0o640))
		size -= n
	}
	must(t, os.WriteFile(filepath.Join(src, "empty"), nil, 0o600))
	must(t, os.Symlink("d00/e0", filepath.Join(src, "link")))
	must(t, os.Chmod(filepath.Join(src, "d01"), 0o750))
	return src
}

// compareTrees checks that every entry of want is in got with the same
// type, mode, size, mtime, owner, content and link target. It reads with
// O_NOATIME, so comparing does not change what the next backup sees.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	var walk func(rel string)
	walk = func(rel string) {
		p, q := filepath.Join(want, rel), filepath.Join(got, rel)
		var a, b unix.Stat_t
		must(t, unix.Lstat(p, &a))
		if err := unix.Lstat(q, &b); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Size != b.Size {
			t.Fatalf("%s: mode/owner/size %o %d %d %d vs %o %d %d %d", rel, a.Mode, a.Uid, a.Gid, a.Size, b.Mode, b.Uid, b.Gid, b.Size)
		}
		if a.Mtim != b.Mtim {
			t.Fatalf("%s: mtime %v vs %v", rel, a.Mtim, b.Mtim)
		}
		n++
		switch a.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if x, y := readNoatime(t, p), readNoatime(t, q); !bytes.Equal(x, y) {
				t.Fatalf("%s: content differs", rel)
			}
		case unix.S_IFLNK:
			x, _ := os.Readlink(p)
			y, _ := os.Readlink(q)
			if x != y {
				t.Fatalf("%s: link %q vs %q", rel, x, y)
			}
		case unix.S_IFDIR:
			f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOATIME, 0)
			must(t, err)
			names, err := f.Readdirnames(-1)
			_ = f.Close()
			must(t, err)
			for _, name := range names {
				walk(filepath.Join(rel, name))
			}
		}
	}
	walk(".")
	if n < 3 {
		t.Fatalf("compared only %d entries", n)
	}
}

func readNoatime(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOATIME, 0)
	must(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	must(t, err)
	return b
}

// faultConn wraps a client's TCP connection: it can delay every read
// (latency) and cut the connection after a number of written bytes.
type faultConn struct {
	net.Conn
	readDelay time.Duration
	cutAfter  int64 // 0: never
	written   atomic.Int64
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.readDelay > 0 {
		time.Sleep(c.readDelay)
	}
	return c.Conn.Read(p)
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.cutAfter > 0 && c.written.Add(int64(len(p))) > c.cutAfter {
		_ = c.Conn.Close()
		return 0, errors.New("connection cut by the test")
	}
	return c.Conn.Write(p)
}

func faultDialer(fc func(net.Conn) *faultConn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return fc(c), nil
	}
}

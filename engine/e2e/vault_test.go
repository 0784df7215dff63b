package e2e

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/enrol"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/repo"
	"keep/engine/server"
)

// The vault child process: TestMain runs vaultMain instead of the tests
// when envVault names its data directory.
const (
	envVault     = "KEEP_E2E_VAULT"      // data directory
	envAddr      = "KEEP_E2E_ADDR"       // listen address (default 127.0.0.1:0)
	envClients   = "KEEP_E2E_CLIENTS"    // comma-separated names to print enrolment tokens for
	envDieAfter  = "KEEP_E2E_DIE_AFTER"  // SIGKILL itself after receiving this many bytes
	envGrants    = "KEEP_E2E_GRANTS"     // comma-separated READER:OWNER pairs: READER may read OWNER's snapshots
	testPassword = "e2e test passphrase" // the repository key file's passphrase
)

// Repository parameters of the test vault: small chunks and packs, so a
// few MiB make many of both, and packs are written (durably) often.
var (
	vaultChunker  = chunker.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
	vaultPackSize = 1 << 20
)

// rxEvery is how often (bytes received) the vault prints an RX line.
const rxEvery = 64 << 10

// vaultMain is a tiny vault: repository (created on first start), CA,
// job log and agent server on one listener. It prints "ADDR a",
// "TOKEN name t" and "RX n" lines on stdout, and stops gracefully on
// SIGTERM.
func vaultMain(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runVault(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "vault:", err)
		return 1
	}
	return 0
}

func openMaster(dir string) (*keys.Master, error) {
	kf := filepath.Join(dir, "keys.json")
	b, err := os.ReadFile(kf)
	if errors.Is(err, fs.ErrNotExist) {
		f, m, _, err := keys.Create(crand.Reader, []byte(testPassword), keys.InsecureTestKDF())
		if err != nil {
			return nil, err
		}
		enc, err := f.Encode()
		if err != nil {
			return nil, err
		}
		return m, os.WriteFile(kf, enc, 0o600)
	}
	if err != nil {
		return nil, err
	}
	f, err := keys.Decode(b)
	if err != nil {
		return nil, err
	}
	return f.Unlock([]byte(testPassword))
}

func runVault(ctx context.Context, dir string) error {
	m, err := openMaster(dir)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "vault", Output: os.Stderr, Level: hclog.Info})
	rdir := filepath.Join(dir, "repo")
	ropts := repo.Options{Chunker: vaultChunker, PackSize: vaultPackSize, Logger: log.Named("repo")}
	var r *repo.Repo
	if _, err := os.Stat(filepath.Join(rdir, "config")); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(rdir, 0o700); err != nil {
			return err
		}
		r, err = repo.Init(ctx, repo.DirFS(rdir), m, ropts)
		if err != nil {
			return fmt.Errorf("init repository: %w", err)
		}
	} else if r, err = repo.Open(ctx, repo.DirFS(rdir), m, ropts); err != nil {
		return fmt.Errorf("open repository: %w", err)
	}
	defer r.Close(context.Background())
	ca, err := enrol.Open(enrol.Options{Dir: filepath.Join(dir, "ca")})
	if err != nil {
		return err
	}
	jl, err := jobs.Open(filepath.Join(dir, "jobs"), jobs.Options{PersistEvery: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	addr := os.Getenv(envAddr)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ { // the port of a killed vault may take a moment to free
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	cl := &countingListener{Listener: ln}
	if s := os.Getenv(envDieAfter); s != "" {
		if cl.dieAfter, err = strconv.ParseInt(s, 10, 64); err != nil {
			return err
		}
	}
	sub := m.Subkeys()
	srv := &server.Server{Repo: r, CA: ca, Jobs: jl, Log: log.Named("server"), FingerprintKey: sub.Fingerprint, GearSeed: sub.Gear,
		Hosts: []string{"127.0.0.1"}}
	grants := map[string]bool{}
	for _, g := range strings.Split(os.Getenv(envGrants), ",") {
		if g != "" {
			grants[g] = true
		}
	}
	srv.MayRead = func(reader, owner string) bool { return grants[reader+":"+owner] }
	fmt.Printf("ADDR %s\n", ln.Addr())
	for _, name := range strings.Split(os.Getenv(envClients), ",") {
		if name == "" {
			continue
		}
		tok, err := ca.NewToken(name, ln.Addr().String(), time.Hour)
		if err != nil {
			return err
		}
		fmt.Printf("TOKEN %s %s\n", name, tok)
	}
	fmt.Println("READY")
	return srv.Serve(ctx, cl)
}

// countingListener counts the bytes its connections receive, prints RX
// lines, and SIGKILLs the process at dieAfter (if set).
type countingListener struct {
	net.Listener
	rx       atomic.Int64
	dieAfter int64
	mu       sync.Mutex
	lastRX   int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(b []byte) (int, error) {
	l := c.l
	if l.dieAfter > 0 {
		// Never read past the kill point: the vault dies having
		// received exactly that much.
		left := l.dieAfter - l.rx.Load()
		if left <= 0 {
			_ = unix.Kill(os.Getpid(), unix.SIGKILL)
			select {}
		}
		if int64(len(b)) > left {
			b = b[:left]
		}
	}
	n, err := c.Conn.Read(b)
	total := l.rx.Add(int64(n))
	l.mu.Lock()
	if total-l.lastRX >= rxEvery {
		l.lastRX = total
		fmt.Printf("RX %d\n", total)
	}
	l.mu.Unlock()
	if l.dieAfter > 0 && total >= l.dieAfter {
		_ = unix.Kill(os.Getpid(), unix.SIGKILL)
		select {}
	}
	return n, err
}

// vault is the test's handle on a vault child process.
type vault struct {
	t      *testing.T
	dir    string
	addr   string
	tokens map[string]string
	cmd    *exec.Cmd
	rx     atomic.Int64
	rxCh   chan struct{} // signalled on every RX line
	exited chan struct{}
	err    error // of Wait, after exited
	stderr *syncBuffer
}

// startVault starts a vault child on dir (addr "" for any port) and
// waits for it to be ready.
func startVault(t *testing.T, dir, addr string, dieAfter int64, clients ...string) *vault {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envVault+"="+dir, envAddr+"="+addr, envClients+"="+strings.Join(clients, ","))
	if dieAfter > 0 {
		cmd.Env = append(cmd.Env, envDieAfter+"="+strconv.FormatInt(dieAfter, 10))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v := &vault{t: t, dir: dir, tokens: map[string]string{}, cmd: cmd, rxCh: make(chan struct{}, 1), exited: make(chan struct{}), stderr: &syncBuffer{}}
	cmd.Stderr = v.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "ADDR":
				v.addr = f[1]
			case len(f) == 3 && f[0] == "TOKEN":
				v.tokens[f[1]] = f[2]
			case len(f) == 1 && f[0] == "READY":
				close(ready)
			case len(f) == 2 && f[0] == "RX":
				n, _ := strconv.ParseInt(f[1], 10, 64)
				v.rx.Store(n)
				select {
				case v.rxCh <- struct{}{}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		v.err = cmd.Wait()
		close(v.exited)
	}()
	select {
	case <-ready:
	case <-v.exited:
		t.Fatalf("vault exited at start: %v\n%s", v.err, v.stderr)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("vault did not start in 60 s\n%s", v.stderr)
	}
	t.Cleanup(func() { v.kill() })
	return v
}

// stop stops the vault gracefully (SIGTERM) and waits for it.
func (v *vault) stop() {
	v.t.Helper()
	select {
	case <-v.exited:
		return
	default:
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
		if v.err != nil {
			v.t.Fatalf("vault stopped with %v\n%s", v.err, v.stderr)
		}
	case <-time.After(60 * time.Second):
		v.t.Fatalf("vault did not stop in 60 s after SIGTERM")
	}
}

// kill SIGKILLs the vault (if running) and waits for it.
func (v *vault) kill() {
	select {
	case <-v.exited:
		return
	default:
	}
	_ = v.cmd.Process.Kill()
	<-v.exited
}

// waitExit waits for the vault to exit by itself and reports whether a
// SIGKILL ended it.
func (v *vault) waitExit(d time.Duration) (killed, ok bool) {
	select {
	case <-v.exited:
	case <-time.After(d):
		return false, false
	}
	var ee *exec.ExitError
	if errors.As(v.err, &ee) {
		if ws, isWS := ee.Sys().(syscall.WaitStatus); isWS && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, true
		}
	}
	return false, true
}

// syncBuffer is a goroutine-safe bytes buffer for child output.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b = append(s.b, p...)
	s.mu.Unlock()
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keep/engine/agentproto"
	"keep/engine/chunker"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
)

type testVault struct {
	srv   *Server
	ca    *enrol.CA
	addr  string
	ended chan SessionInfo
	stop  func(timeout time.Duration) error // cancels Serve and waits for it
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newTestVault(t *testing.T, configure ...func(*Server)) *testVault {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := keys.NewMaster(crand.Reader)
	must(t, err)
	must(t, os.Mkdir(filepath.Join(dir, "repo"), 0o700))
	r, err := repo.Init(ctx, repo.DirFS(filepath.Join(dir, "repo")), m, repo.Options{Chunker: chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}})
	must(t, err)
	t.Cleanup(func() { _ = r.Close(ctx) })
	ca, err := enrol.Open(enrol.Options{Dir: filepath.Join(dir, "ca")})
	must(t, err)
	jl, err := jobs.Open(filepath.Join(dir, "jobs"), jobs.Options{})
	must(t, err)
	v := &testVault{ca: ca, ended: make(chan SessionInfo, 100)}
	sub := m.Subkeys()
	v.srv = &Server{Repo: r, CA: ca, Jobs: jl, FingerprintKey: sub.Fingerprint, GearSeed: sub.Gear,
		SessionDone: func(i SessionInfo) { v.ended <- i }}
	for _, f := range configure {
		f(v.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	v.addr = ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.srv.Serve(sctx, ln) }()
	var once sync.Once
	var serr error
	v.stop = func(timeout time.Duration) error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(timeout):
				serr = fmt.Errorf("Serve did not return within %v of its context's end", timeout)
			}
		})
		return serr
	}
	t.Cleanup(func() {
		if err := v.stop(time.Minute); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return v
}

// conn opens a raw TLS connection, with a client certificate for name
// ("" for none).
func (v *testVault) conn(t *testing.T, name string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: v.ca.Pool(), ServerName: enrol.ServerName}
	if name != "" {
		k, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		must(t, err)
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		must(t, err)
		s, err := v.ca.NewToken(name, v.addr, time.Hour)
		must(t, err)
		tok, err := enrol.ParseToken(s)
		must(t, err)
		der, _, err := v.ca.Enrol(tok.Secret[:], pub)
		must(t, err)
		cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}
	}
	c, err := tls.Dial("tcp", v.addr, cfg)
	must(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c *tls.Conn, br *bufio.Reader, id uint32, m agentproto.Message) agentproto.Message {
	t.Helper()
	f, err := agentproto.AppendFrame(nil, id, m)
	must(t, err)
	_, err = c.Write(f)
	must(t, err)
	rid, r, err := agentproto.ReadFrame(br, 0)
	must(t, err)
	if rid != id {
		t.Fatalf("reply to %d, asked %d", rid, id)
	}
	return r
}

func wantCode(t *testing.T, m agentproto.Message, code agentproto.Code) {
	t.Helper()
	e, ok := m.(*agentproto.Error)
	if !ok || e.Code != code {
		t.Fatalf("got %#v, want error code %d", m, code)
	}
}

func TestHelloWithoutCertificate(t *testing.T) {
	v := newTestVault(t)
	c, br := v.conn(t, "")
	r := roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version, Client: "web1"})
	wantCode(t, r, agentproto.CodeUnauthenticated)
	if _, _, err := agentproto.ReadFrame(br, 0); err == nil {
		t.Fatal("connection still open after a refused Hello")
	}
}

func TestFirstRequestMustBeHello(t *testing.T) {
	v := newTestVault(t)
	c, br := v.conn(t, "web1")
	wantCode(t, roundTrip(t, c, br, 1, &agentproto.HaveQuery{BlobType: 1}), agentproto.CodeBadRequest)
	c, br = v.conn(t, "web1")
	wantCode(t, roundTrip(t, c, br, 1, &agentproto.Hello{Version: 99}), agentproto.CodeVersion)
}

func TestRequestsAfterHello(t *testing.T) {
	v := newTestVault(t)
	c, br := v.conn(t, "web1")
	h, ok := roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version}).(*agentproto.HelloOK)
	if !ok || h.Client != "web1" || h.MaxPayload != agentproto.MaxPayload {
		t.Fatalf("hello: %#v", h)
	}
	wantCode(t, roundTrip(t, c, br, 2, &agentproto.Commit{Snapshot: []byte("{}")}), agentproto.CodeBadRequest)
	wantCode(t, roundTrip(t, c, br, 3, &agentproto.EndJob{}), agentproto.CodeNoJob)
	wantCode(t, roundTrip(t, c, br, 4, &agentproto.HaveQuery{BlobType: 9}), agentproto.CodeBadRequest)
	wantCode(t, roundTrip(t, c, br, 5, &agentproto.Hello{Version: agentproto.Version}), agentproto.CodeBadRequest)
	wantCode(t, roundTrip(t, c, br, 6, &agentproto.BeginJob{Kind: "weekly"}), agentproto.CodeBadRequest)
	js, ok := roundTrip(t, c, br, 7, &agentproto.BeginJob{Kind: "full", Hostname: "h"}).(*agentproto.JobStarted)
	if !ok {
		t.Fatal("no job")
	}
	wantCode(t, roundTrip(t, c, br, 8, &agentproto.BeginJob{Kind: "full"}), agentproto.CodeBadRequest)
	// A malformed frame ends the session; the job fails with the reason.
	_, err := c.Write([]byte{200, 0, 0, 0, 9, 0, 0, 0, 0})
	must(t, err)
	var info SessionInfo
	for info.JobID != js.JobID {
		info = <-v.ended
	}
	if info.Err == nil || !errors.Is(info.Err, agentproto.ErrFrame) {
		t.Fatalf("session end: %v", info.Err)
	}
	j, err := v.srv.Jobs.Get(js.JobID)
	must(t, err)
	if j.State != jobs.Failed || j.Reason == "" {
		t.Fatalf("job %+v", j)
	}
}

func TestCodeOf(t *testing.T) {
	cases := map[error]agentproto.Code{
		repo.ErrIDMismatch:    agentproto.CodeIDMismatch,
		repo.ErrNotFound:      agentproto.CodeNotFound,
		enrol.ErrRevoked:      agentproto.CodeRevoked,
		enrol.ErrTokenUsed:    agentproto.CodeTokenUsed,
		enrol.ErrTokenExpired: agentproto.CodeTokenExpired,
		enrol.ErrUnknownCA:    agentproto.CodeUnauthenticated,
		errors.New("x"):       agentproto.CodeInternal,
	}
	for err, want := range cases {
		if got := codeOf(errors.Join(errors.New("ctx"), err)); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

// TestUncompressedAsItCame: a blob an agent that compresses (Hello's
// HelloCompresses) sends uncompressed is stored as it came, not
// compressed again by the vault; from an agent that does not compress,
// the vault compresses it.
func TestUncompressedAsItCame(t *testing.T) {
	v := newTestVault(t)
	fp, err := fingerprint.New(v.srv.FingerprintKey.Bytes())
	must(t, err)
	stored := func(name string, flags uint8) int {
		c, br := v.conn(t, name)
		if _, ok := roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version, Flags: flags}).(*agentproto.HelloOK); !ok {
			t.Fatal("hello refused")
		}
		if _, ok := roundTrip(t, c, br, 2, &agentproto.BeginJob{Kind: "full", Hostname: name}).(*agentproto.JobStarted); !ok {
			t.Fatal("no job")
		}
		// Compressible, and different for each agent (so each stores it).
		data := bytes.Repeat([]byte("a tree of "+name+" "), 8<<10)
		r, ok := roundTrip(t, c, br, 3, &agentproto.PutBlob{BlobType: uint8(pack.Tree), ID: fp.Sum(data), Size: uint32(len(data)), Data: data}).(*agentproto.PutOK)
		if !ok {
			t.Fatalf("%s: put refused", name)
		}
		return int(r.Stored) - len(data)
	}
	if d := stored("web1", agentproto.HelloCompresses); d <= 0 {
		t.Errorf("agent that compresses: stored %+d bytes beyond the plaintext, want the plaintext sealed as it came", d)
	}
	if d := stored("web2", 0); d >= 0 {
		t.Errorf("agent that does not compress: stored %+d bytes beyond the plaintext, want it compressed", d)
	}
}

// TestLoadChanged: the server reports the agent connections open as they
// come and go, and the sessions that began a restore (the appliance sizes
// its memory limit by them): once each, until it closes.
func TestLoadChanged(t *testing.T) {
	loads := make(chan Load, 16)
	v := newTestVault(t, func(s *Server) { s.LoadChanged = func(l Load) { loads <- l } })
	next := func(want Load) {
		t.Helper()
		select {
		case l := <-loads:
			if l != want {
				t.Fatalf("load %+v, want %+v", l, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no change reported (want %+v)", want)
		}
	}
	begin := func(c *tls.Conn, br *bufio.Reader, id uint32, kind string) {
		t.Helper()
		if _, ok := roundTrip(t, c, br, id, &agentproto.BeginJob{Kind: kind, Hostname: "h"}).(*agentproto.JobStarted); !ok {
			t.Fatalf("%s job refused", kind)
		}
	}
	c1, br1 := v.conn(t, "web1")
	roundTrip(t, c1, br1, 1, &agentproto.Hello{Version: agentproto.Version})
	next(Load{Sessions: 1})
	begin(c1, br1, 2, "full") // a backup: no change
	c2, br2 := v.conn(t, "web2")
	roundTrip(t, c2, br2, 1, &agentproto.Hello{Version: agentproto.Version})
	next(Load{Sessions: 2})
	begin(c2, br2, 2, "restore")
	next(Load{Sessions: 2, Readers: 1})
	if l := v.srv.Load(); l != (Load{Sessions: 2, Readers: 1}) {
		t.Fatalf("Load() = %+v with two agents connected, one restoring", l)
	}
	_ = c1.Close()
	next(Load{Sessions: 1, Readers: 1})
	_ = c2.Close()
	next(Load{})
}

package local

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/engine/backup"
	"keep/engine/browse"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/remote"
	"keep/engine/restore"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testKDF() *keys.KDFParams { k := keys.InsecureTestKDF(); return &k }

func TestOpenCreatesAndReopens(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "engine")
	e, err := Open(ctx, Options{Dir: dir})
	must(t, err)
	if !e.Created || e.KeyID == "" {
		t.Fatalf("first open: created %v key %q", e.Created, e.KeyID)
	}
	for _, f := range []string{"key", "passphrase", "recovery-key", "repo/config"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		must(t, err)
		if f != "repo/config" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	rk, ok, err := e.RecoveryKey()
	must(t, err)
	if !ok || len(strings.ReplaceAll(rk, "-", "")) < 50 {
		t.Fatalf("recovery key %q %v", rk, ok)
	}
	// The recovery key opens the key file.
	b, err := os.ReadFile(filepath.Join(dir, "key"))
	must(t, err)
	kf, err := keys.Decode(b)
	must(t, err)
	parsed, err := keys.ParseRecoveryKey(rk)
	must(t, err)
	m, err := kf.UnlockWithRecovery(parsed)
	must(t, err)
	if m.ID() != e.KeyID {
		t.Fatalf("recovery key opens key %s, want %s", m.ID(), e.KeyID)
	}
	must(t, e.ForgetRecoveryKey())
	if _, ok, _ := e.RecoveryKey(); ok {
		t.Fatal("recovery key still on the box")
	}
	must(t, e.Close(ctx))

	e2, err := Open(ctx, Options{Dir: dir})
	must(t, err)
	if e2.Created || e2.KeyID != e.KeyID {
		t.Fatalf("reopen: created %v key %s, want %s", e2.Created, e2.KeyID, e.KeyID)
	}
	must(t, e2.Close(ctx))

	// A wrong passphrase is a clear error and changes nothing.
	wrong := filepath.Join(t.TempDir(), "pass")
	must(t, os.WriteFile(wrong, []byte("not it\n"), 0o600))
	if _, err := Open(ctx, Options{Dir: dir, PassphraseFile: wrong}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// The engine's passphrase gone with the key file there: say so.
	must(t, os.Remove(filepath.Join(dir, "passphrase")))
	if _, err := Open(ctx, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "passphrase file") {
		t.Fatalf("lost passphrase: %v", err)
	}
}

func TestOperatorPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pf := filepath.Join(t.TempDir(), "pass")
	must(t, os.WriteFile(pf, []byte("correct horse battery staple\n"), 0o600))
	e, err := Open(ctx, Options{Dir: dir, PassphraseFile: pf, KDF: testKDF()})
	must(t, err)
	must(t, e.Close(ctx))
	if _, err := os.Stat(filepath.Join(dir, "passphrase")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an operator's passphrase was copied to the box: %v", err)
	}
	e, err = Open(ctx, Options{Dir: dir, Passphrase: []byte("correct horse battery staple")})
	must(t, err)
	must(t, e.Close(ctx))
}

// TestServeBackupVerify: an agent enrols, backs up through the engine's
// server; the engine lists the snapshot, the job and the client, and
// verifies clean.
func TestServeBackupVerify(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := Open(ctx, Options{Dir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	must(t, err)
	defer e.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, ln) }()

	tok, err := e.CA.NewToken("web1", ln.Addr().String(), time.Hour)
	must(t, err)
	cr, err := remote.Enrol(ctx, tok, remote.Options{})
	must(t, err)
	c, err := remote.Dial(ctx, ln.Addr().String(), cr, remote.Options{})
	must(t, err)
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte(strings.Repeat("keep ", 50000)), 0o644))
	st, err := c.NewStore(ctx, remote.Job{Hostname: "web1", Paths: []string{src}})
	must(t, err)
	res, err := backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "web1", Progress: st.Progress})
	must(t, st.Finish(ctx, res, err))
	must(t, err)
	must(t, c.Close())

	snaps, _, err := e.Snapshots(ctx, browse.Filter{Client: "web1"})
	must(t, err)
	if len(snaps) != 1 || snaps[0].Client != "web1" {
		t.Fatalf("snapshots %v", snaps)
	}
	s, err := e.Status(ctx)
	must(t, err)
	if s.Snapshots != 1 || s.Clients != 1 || s.Blobs == 0 || !s.RecoveryKeyOnBox || len(s.CAFingerprint) != 64 {
		t.Fatalf("status %+v", s)
	}
	v, err := e.Verify(ctx, 100, time.Now)
	must(t, err)
	if !v.Report.OK() || v.Job.State != jobs.Succeeded || v.Job.Kind != jobs.Verify || v.Report.Read == 0 {
		t.Fatalf("verify %+v %+v", v.Job, v.Report)
	}
	js, err := e.Jobs.List()
	must(t, err)
	kinds := map[jobs.Kind]jobs.State{}
	for _, j := range js {
		kinds[j.Kind] = j.State
	}
	if kinds[jobs.Full] != jobs.Succeeded || kinds[jobs.Verify] != jobs.Succeeded {
		t.Fatalf("jobs %v", kinds)
	}
	if _, err := e.Verify(ctx, 0, time.Now); err == nil {
		t.Fatal("verify 0% accepted")
	}
	cancel()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve: %v", err)
	}
}

// TestRestoreGrant: another client reads a client's snapshots only while
// an operator's grant is in force, and the grant survives a reopen.
func TestRestoreGrant(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	e, err := Open(ctx, Options{Dir: dir, Now: clock})
	must(t, err)
	defer e.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go e.Serve(ctx, ln)
	addr := ln.Addr().String()
	dial := func(client string) *remote.Client {
		tok, err := e.CA.NewToken(client, addr, time.Hour)
		must(t, err)
		cr, err := remote.Enrol(ctx, tok, remote.Options{})
		must(t, err)
		c, err := remote.Dial(ctx, addr, cr, remote.Options{})
		must(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	web1, web2 := dial("web1"), dial("web2")
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte("web1's data"), 0o644))
	st, err := web1.NewStore(ctx, remote.Job{Hostname: "web1", Paths: []string{src}})
	must(t, err)
	res, err := backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "web1"})
	must(t, st.Finish(ctx, res, err))
	must(t, err)

	list := func() int {
		snaps, err := web2.ListSnapshots(ctx)
		must(t, err)
		return len(snaps)
	}
	if n := list(); n != 0 {
		t.Fatalf("web2 lists %d of web1's snapshots without a grant", n)
	}
	if _, err := web2.OpenSnapshot(ctx, res.Snapshot.ID); err == nil {
		t.Fatal("web2 opened web1's snapshot without a grant")
	}
	if _, err := e.GrantRestore("web2", "web2", time.Hour); err == nil {
		t.Fatal("a grant to oneself accepted")
	}
	g, err := e.GrantRestore("web2", "web1", time.Hour)
	must(t, err)
	if n := list(); n != 1 {
		t.Fatalf("web2 lists %d snapshots with the grant, want 1", n)
	}
	rd, err := web2.OpenRestore(ctx, res.Snapshot.ID, jobs.Restore, "web2")
	must(t, err)
	target := t.TempDir()
	rr, err := restore.Restore(ctx, rd, rd.Snapshot(), "", target, restore.Options{})
	must(t, rd.Finish(ctx, nil, err))
	must(t, err)
	b, err := os.ReadFile(filepath.Join(target, filepath.Base(src), "a"))
	if err != nil || string(b) != "web1's data" || len(rr.Failed) != 0 {
		t.Fatalf("restored %q %v %+v", b, err, rr.Failed)
	}
	// The grant is durable.
	e2, err := loadGrants(dir, clock)
	must(t, err)
	if !e2.mayRead("web2", "web1") || e2.mayRead("web1", "web2") {
		t.Fatalf("reloaded grants %+v", e2.list)
	}
	// Revoked before it expires: no more lists or opens, durably; a
	// second revoke finds nothing.
	ok, err := e.RevokeGrant("web2", "web1")
	if err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if n := list(); n != 0 || len(e.Grants()) != 0 {
		t.Fatalf("web2 lists %d snapshots after the grant was revoked (grants %v)", n, e.Grants())
	}
	if _, err := web2.OpenSnapshot(ctx, res.Snapshot.ID); err == nil {
		t.Fatal("web2 opened web1's snapshot after the grant was revoked")
	}
	if e3, err := loadGrants(dir, clock); err != nil || e3.mayRead("web2", "web1") {
		t.Fatalf("reloaded grants after revoke %+v %v", e3, err)
	}
	if ok, err := e.RevokeGrant("web2", "web1"); ok || err != nil {
		t.Fatalf("second revoke: %v %v", ok, err)
	}
	g, err = e.GrantRestore("web2", "web1", time.Hour)
	must(t, err)
	// Expired: no more reads.
	mu.Lock()
	now = g.Expires.Add(time.Second)
	mu.Unlock()
	if n := list(); n != 0 || len(e.Grants()) != 0 {
		t.Fatalf("web2 lists %d snapshots after the grant expired (grants %v)", n, e.Grants())
	}
}

func TestSyntheticFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := Open(ctx, Options{Dir: t.TempDir()})
	must(t, err)
	defer e.Close(context.Background())
	if _, _, err := e.SyntheticFull(ctx, "web1", ""); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("no snapshot: %v", err)
	}
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte(strings.Repeat("x", 5000)), 0o644))
	// A local backup as client web1 (the engine's own repository).
	res, err := backup.Run(ctx, e.Repo, []string{src}, backup.Options{Hostname: "web1", Client: "web1"})
	must(t, err)
	s, j, err := e.SyntheticFull(ctx, "web1", "")
	must(t, err)
	if s.Job != "synthetic-full" || s.Tree != res.Snapshot.Tree || s.Parent != res.Snapshot.ID || j.State != jobs.Succeeded ||
		j.Kind != jobs.SyntheticFull || j.Snapshot != s.ID.String() || j.Counts.Files != 1 || j.Counts.BytesSeen != 5000 {
		t.Fatalf("synthetic full %+v, job %+v", s, j)
	}
	snaps, _, err := e.Snapshots(ctx, browse.Filter{Client: "web1"})
	must(t, err)
	if len(snaps) != 2 || snaps[0].ID != s.ID {
		t.Fatalf("snapshots %v", snaps)
	}
}

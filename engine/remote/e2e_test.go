package remote

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keep/engine/agentproto"
	"keep/engine/backup"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/server"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

func isCode(err error, c agentproto.Code) bool { return errors.Is(err, &agentproto.Error{Code: c}) }

// runBackup backs up paths through a new Store on c.
func runBackup(t *testing.T, c *Client, paths []string, parent fingerprint.ID) (*backup.Result, *Store) {
	t.Helper()
	ctx := context.Background()
	st, err := c.NewStore(ctx, Job{Hostname: "web1", Paths: paths, Parent: parent})
	must(t, err)
	res, err := backup.Run(ctx, st, paths, backup.Options{Hostname: "web1", Client: "someone-else", Parent: st.Parent(), Progress: st.Progress})
	if ferr := st.Finish(ctx, res, err); ferr != nil && err == nil {
		err = ferr
	}
	must(t, err)
	return res, st
}

func TestEnrolTokens(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	tok, err := v.ca.NewToken("web1", v.addr, time.Hour)
	must(t, err)
	cr, err := Enrol(ctx, tok, Options{})
	must(t, err)
	if _, err := Enrol(ctx, tok, Options{}); !isCode(err, agentproto.CodeTokenUsed) || !strings.Contains(err.Error(), "new token") {
		t.Fatalf("token reuse: %v", err)
	}
	tok2, err := v.ca.NewToken("web2", v.addr, time.Minute)
	must(t, err)
	v.clock.add(2 * time.Minute)
	if _, err := Enrol(ctx, tok2, Options{}); !isCode(err, agentproto.CodeTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	// A token whose pinned CA is not the vault's: the agent refuses the
	// vault before sending the secret.
	other, err := enrol.Open(enrol.Options{Dir: t.TempDir()})
	must(t, err)
	tok3, err := other.NewToken("web3", v.addr, time.Hour)
	must(t, err)
	if _, err := Enrol(ctx, tok3, Options{}); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("foreign CA pin: %v", err)
	}
	// The certificate works and names the client; a wrong claim is refused.
	c := v.dial(t, cr, Options{Client: "web1"})
	if c.Info().Client != "web1" || c.Info().Chunker != testChunker {
		t.Fatalf("info %+v", c.Info())
	}
	if _, err := Dial(ctx, v.addr, cr, Options{Client: "db1"}); !isCode(err, agentproto.CodeClientMismatch) {
		t.Fatalf("wrong claim: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(v.dir, "ca", "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v %v", fi, err)
	}
}

func TestRefusedClients(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	cr := v.enrolAgent(t, "web1")
	c := v.dial(t, cr, Options{})
	_ = c.Close()

	// A certificate from another CA (trusting this vault's CA, so TLS
	// itself succeeds): refused at Hello.
	other, err := enrol.Open(enrol.Options{Dir: t.TempDir()})
	must(t, err)
	foreign := &Credentials{Certificate: cr.Certificate, CA: cr.CA}
	{
		// Issue a certificate of the other CA for the same key.
		tok, err := other.NewToken("web1", "127.0.0.1:1", time.Hour)
		must(t, err)
		pt, err := enrol.ParseToken(tok)
		must(t, err)
		der, _, err := other.Enrol(pt.Secret[:], mustPKIX(t, cr))
		must(t, err)
		foreign.Certificate.Certificate = [][]byte{der}
		foreign.Certificate.Leaf = nil
	}
	if _, err := Dial(ctx, v.addr, foreign, Options{}); !isCode(err, agentproto.CodeUnauthenticated) || !strings.Contains(err.Error(), "not issued by this vault") {
		t.Fatalf("foreign certificate: %v", err)
	}

	// Revoked: new connections are refused, and Disconnect cuts the open
	// ones (their jobs fail), not another client's.
	live := v.dial(t, cr, Options{})
	st, err := live.NewStore(ctx, Job{Hostname: "web1", Paths: []string{"/x"}})
	must(t, err)
	bystander := v.dial(t, v.enrolAgent(t, "db1"), Options{})
	n, err := v.ca.RevokeClient("web1")
	if err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if cut := v.srv.Disconnect("web1"); cut != 1 {
		t.Fatalf("Disconnect cut %d connections, want 1", cut)
	}
	for {
		var i server.SessionInfo
		select {
		case i = <-v.ended:
		case <-time.After(time.Minute):
			t.Fatal("the revoked client's session did not end")
		}
		if i.JobID == st.JobID() {
			if i.Err == nil || !strings.Contains(i.Err.Error(), "revoked") {
				t.Fatalf("revoked session ended with %v", i.Err)
			}
			break
		}
	}
	if j, _ := v.jobs.Get(st.JobID()); j.State != jobs.Failed || !strings.Contains(j.Reason, "client revoked") {
		t.Fatalf("revoked client's job %+v", j)
	}
	if _, err := live.ListSnapshots(ctx); err == nil {
		t.Fatal("a revoked client's connection still answers")
	}
	if _, err := bystander.ListSnapshots(ctx); err != nil {
		t.Fatalf("another client's connection: %v", err)
	}
	if _, err := Dial(ctx, v.addr, cr, Options{}); !isCode(err, agentproto.CodeRevoked) || !strings.Contains(err.Error(), "enrol this agent again") {
		t.Fatalf("revoked: %v", err)
	}
	// Revocation survives a restart of the CA.
	ca2, err := enrol.Open(enrol.Options{Dir: filepath.Join(v.dir, "ca")})
	must(t, err)
	if _, err := ca2.VerifyClient([]*x509.Certificate{cr.Certificate.Leaf}); !errors.Is(err, enrol.ErrRevoked) {
		t.Fatalf("revocation lost on reopen: %v", err)
	}

	// Expired.
	cr2 := v.enrolAgent(t, "web2")
	v.clock.add(enrol.DefaultClientValidity + time.Hour)
	if _, err := Dial(ctx, v.addr, cr2, Options{}); !isCode(err, agentproto.CodeUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
}

func TestBackupRestoreIncremental(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	cr := v.enrolAgent(t, "web1")
	dir := t.TempDir()
	src := makeTree(t, dir, 3<<20)

	c := v.dial(t, cr, Options{})
	// puts counts the frames that carry blobs: PutBlob, and PutBundle
	// for the small chunks the agent bundles.
	puts := func() int64 { return v.srv.Frames(agentproto.TypePutBlob) + v.srv.Frames(agentproto.TypePutBundle) }
	puts0 := puts()
	res, st := runBackup(t, c, []string{src}, fingerprint.ID{})
	first := res.Snapshot
	if puts()-puts0 == 0 || st.Stats().PutBlobs == 0 || st.Stats().PutBundles == 0 {
		t.Fatalf("first backup sent %d frames: %+v", puts()-puts0, st.Stats())
	}
	// The snapshot is the authenticated client's, whatever the agent said.
	snaps, err := c.ListSnapshots(ctx)
	must(t, err)
	if len(snaps) != 1 || snaps[0].Client != "web1" || snaps[0].ID != first.ID {
		t.Fatalf("snapshots %+v", snaps)
	}
	if snaps[0].Summary.ChunksNew == 0 || snaps[0].Summary.BytesStored == 0 {
		t.Fatalf("summary not from the vault: %+v", snaps[0].Summary)
	}
	j, err := v.jobs.Get(st.JobID())
	must(t, err)
	if j.State != jobs.Succeeded || j.Client != "web1" || j.Snapshot != first.ID.String() || j.Counts.BytesNew == 0 || j.Kind != jobs.Full {
		t.Fatalf("job %+v", j)
	}

	// Restore through a Reader on a new connection.
	rd, target := restoreAll(t, v.dial(t, cr, Options{}), first.ID, "web1")
	compareTrees(t, src, filepath.Join(target, "src"))
	if j, _ := v.jobs.Get(rd.JobID()); j.Kind != jobs.Restore || j.State != jobs.Succeeded || j.Counts.BytesSent == 0 {
		t.Fatalf("restore job %+v", j)
	}

	// Same tree again, full, new connection: zero blobs sent.
	c3 := v.dial(t, cr, Options{})
	puts0 = puts()
	runBackup(t, c3, []string{src}, fingerprint.ID{})
	if d := puts() - puts0; d != 0 {
		t.Fatalf("second identical backup sent %d blobs", d)
	}

	// Small change: overwrite 100 bytes in the middle of one file.
	victim := filepath.Join(src, "d03", "e0", "f003")
	old := readNoatime(t, victim)
	changed := append([]byte(nil), old...)
	copy(changed[len(changed)/2:], pseudo(999, 100))
	must(t, os.WriteFile(victim, changed, 0o640))
	cut, err := c3.cutter, error(nil)
	must(t, err)
	oldIDs := map[fingerprint.ID]bool{}
	for _, ch := range cut.Boundaries(old) {
		oldIDs[c3.fp.Sum(ch.Data)] = true
	}
	newChunks := map[fingerprint.ID]bool{}
	for _, ch := range cut.Boundaries(changed) {
		if id := c3.fp.Sum(ch.Data); !oldIDs[id] {
			newChunks[id] = true
		}
	}
	// New trees: the file's directory, d03, src and the root.
	wantPuts := int64(len(newChunks) + 4)

	c4 := v.dial(t, cr, Options{})
	puts0 = puts()
	res4, st4 := runBackup(t, c4, []string{src}, first.ID)
	// The changed chunks are small: one bundle, and the trees alone.
	if d, s := puts()-puts0, st4.Stats(); d != 5 || s.PutBlobs != wantPuts || s.PutBundles != 1 {
		t.Fatalf("incremental sent %d frames, %d blobs in %d bundles; want 5 frames (a bundle and 4 trees), %d blobs (%d changed chunks + 4 trees)",
			d, s.PutBlobs, s.PutBundles, wantPuts, len(newChunks))
	}
	if s := res4.Snapshot.Summary; s.FilesRead != 1 || s.FilesUnchanged == 0 {
		t.Fatalf("incremental read %d files, %d unchanged", s.FilesRead, s.FilesUnchanged)
	}
	if s := st4.Stats(); s.HasQueries != 0 {
		t.Fatalf("incremental needed %d Has round trips; the intact parent should answer them", s.HasQueries)
	}
	if j, _ := v.jobs.Get(st4.JobID()); j.Kind != jobs.Incremental || j.Parent != first.ID.String() {
		t.Fatalf("incremental job %+v", j)
	}
	// The incremental restores to the changed tree.
	c5 := v.dial(t, cr, Options{})
	rd5, err := c5.OpenRestore(ctx, res4.Snapshot.ID, "", "web1")
	must(t, err)
	target5 := t.TempDir()
	_, err = restore.Restore(ctx, rd5, rd5.Snapshot(), "", target5, restore.Options{})
	must(t, err)
	compareTrees(t, src, filepath.Join(target5, "src"))

	// Another client sees none of web1's snapshots and cannot read them.
	other := v.dial(t, v.enrolAgent(t, "db1"), Options{})
	if s, err := other.ListSnapshots(ctx); err != nil || len(s) != 0 {
		t.Fatalf("db1 lists %d snapshots: %v", len(s), err)
	}
	if _, err := other.OpenRestore(ctx, first.ID, "", "db1"); !isCode(err, agentproto.CodeNotFound) {
		t.Fatalf("db1 opened web1's snapshot: %v", err)
	}
	if _, err := other.getBlob(ctx, pack.Tree, first.Tree, nil); !isCode(err, agentproto.CodeForbidden) {
		t.Fatalf("db1 read web1's tree: %v", err)
	}
}

// TestCommitForeignParentRefused: a grant lets web2 read web1's
// snapshots, not make one of them the parent of its own.
func TestCommitForeignParentRefused(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte("web1's file"), 0o644))
	first, _ := runBackup(t, v.dial(t, v.enrolAgent(t, "web1"), Options{}), []string{src}, fingerprint.ID{})
	v.grant("web2", "web1")
	web2 := v.dial(t, v.enrolAgent(t, "web2"), Options{})
	if _, err := web2.OpenSnapshot(ctx, first.Snapshot.ID); err != nil {
		t.Fatalf("web2 reading web1's snapshot under a grant: %v", err)
	}
	st, err := web2.NewStore(ctx, Job{Hostname: "web1", Paths: []string{src}, Parent: first.Snapshot.ID})
	must(t, err)
	res, err := backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "web1", Parent: st.Parent(), Progress: st.Progress})
	if err == nil {
		err = st.Finish(ctx, res, nil)
	}
	if !isCode(err, agentproto.CodeNotFound) || !strings.Contains(err.Error(), "web1") {
		t.Fatalf("web2 committing with web1's parent: %v", err)
	}
	if snaps, err := web2.ListSnapshots(ctx); err != nil || len(snaps) != 1 || snaps[0].Client != "web1" {
		t.Fatalf("snapshots after the refused commit: %v %v", snaps, err)
	}
}

func TestIDMismatchRejected(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	data := []byte("the real content")
	bogus := c.fp.Sum([]byte("other content"))
	before := v.repo.Stats()
	_, err := c.call(ctx, &agentproto.PutBlob{BlobType: uint8(pack.Data), ID: bogus, Data: data})
	if !isCode(err, agentproto.CodeIDMismatch) {
		t.Fatalf("mismatching blob: %v", err)
	}
	// Also for an ID the vault has: the check does not depend on it.
	good := c.fp.Sum(data)
	_, err = c.call(ctx, &agentproto.PutBlob{BlobType: uint8(pack.Data), ID: good, Data: data})
	must(t, err)
	_, err = c.call(ctx, &agentproto.PutBlob{BlobType: uint8(pack.Data), ID: good, Data: []byte("poison")})
	if !isCode(err, agentproto.CodeIDMismatch) {
		t.Fatalf("poisoning a present blob: %v", err)
	}
	must(t, v.repo.Flush(ctx))
	if v.repo.Has(pack.Data, bogus) {
		t.Fatal("mismatching blob stored")
	}
	got, err := v.repo.Get(ctx, pack.Data, good, nil)
	if err != nil || string(got) != string(data) {
		t.Fatalf("good blob: %q %v", got, err)
	}
	if after := v.repo.Stats(); after.Blobs != before.Blobs+1 {
		t.Fatalf("blobs %d → %d, want one more", before.Blobs, after.Blobs)
	}
}

func TestCommitMissingBlobRefused(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	st, err := c.NewStore(ctx, Job{Hostname: "web1", Paths: []string{"/x"}})
	must(t, err)
	present := []byte("present chunk")
	pid := st.Sum(present)
	_, err = st.PutSize(ctx, pack.Data, pid, present)
	must(t, err)
	var missing fingerprint.ID
	_, _ = crand.Read(missing[:])
	nodes := []tree.Node{
		{Name: "a", Type: tree.File, Mode: 0o644, Size: uint64(len(present)), Content: []tree.Extent{{ID: pid, Length: uint64(len(present))}}},
		{Name: "b", Type: tree.File, Mode: 0o644, Size: 10, Content: []tree.Extent{{ID: missing, Length: 10}}},
	}
	root, err := (&tree.Saver{Store: st}).Save(ctx, nodes)
	must(t, err)
	s := &snapshot.Snapshot{Version: snapshot.Version, Time: time.Now(), Hostname: "web1", Paths: []string{"/x"}, Tree: root, Job: snapshot.Full}
	err = snapshot.Save(ctx, st, s)
	if !isCode(err, agentproto.CodeIncomplete) || !strings.Contains(err.Error(), missing.Short()) {
		t.Fatalf("commit with a missing chunk: %v", err)
	}
	ids, err := v.repo.ListFiles(ctx, repo.Snapshots)
	if err != nil || len(ids) != 0 {
		t.Fatalf("snapshots after refused commit: %v %v", ids, err)
	}
	// A tree that is itself missing is refused too.
	var ghost fingerprint.ID
	_, _ = crand.Read(ghost[:])
	s.Tree = ghost
	if err := snapshot.Save(ctx, st, s); !isCode(err, agentproto.CodeIncomplete) {
		t.Fatalf("commit of a missing tree: %v", err)
	}
}

func TestKillMidBackup(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	cr := v.enrolAgent(t, "web1")
	src := makeTree(t, t.TempDir(), 4<<20)
	var fc *faultConn
	c := v.dial(t, cr, Options{DialContext: faultDialer(func(nc net.Conn) *faultConn {
		fc = &faultConn{Conn: nc, cutAfter: 1 << 20}
		return fc
	})})
	st, err := c.NewStore(ctx, Job{Hostname: "web1", Paths: []string{src}})
	must(t, err)
	_, err = backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "web1"})
	if err == nil {
		t.Fatal("backup over a cut connection succeeded")
	}
	info := v.waitSession(t, st.JobID())
	if info.JobID != st.JobID() {
		t.Fatalf("session job %q, store job %q", info.JobID, st.JobID())
	}
	j, err := v.jobs.Get(st.JobID())
	must(t, err)
	if j.State != jobs.Failed || j.Reason == "" || j.End.IsZero() {
		t.Fatalf("job after cut: %+v", j)
	}
	ids, err := v.repo.ListFiles(ctx, repo.Snapshots)
	if err != nil || len(ids) != 0 {
		t.Fatalf("snapshots after cut: %v %v", ids, err)
	}
	rep, err := v.repo.Check(ctx)
	must(t, err)
	if !rep.OK() {
		t.Fatalf("repository damaged: %+v", rep.Problems)
	}
	// The next backup completes and reuses what arrived.
	c2 := v.dial(t, cr, Options{})
	res, _ := runBackup(t, c2, []string{src}, fingerprint.ID{})
	if res.Snapshot.ID.IsZero() {
		t.Fatal("no snapshot")
	}
}

func TestPipelining(t *testing.T) {
	v := newVault(t)
	cr := v.enrolAgent(t, "web1")
	src := makeTree(t, t.TempDir(), 2<<20)
	c := v.dial(t, cr, Options{DialContext: faultDialer(func(nc net.Conn) *faultConn {
		return &faultConn{Conn: nc, readDelay: 2 * time.Millisecond}
	})})
	runBackup(t, c, []string{src}, fingerprint.ID{})
	if n := v.srv.MaxInFlightSeen(); n <= 1 {
		t.Fatalf("the vault never held more than %d request of a connection at once", n)
	}
	if n := c.MaxPending(); n <= 1 {
		t.Fatalf("the agent never had more than %d request in flight", n)
	}
	t.Logf("in flight: vault %d, agent %d", v.srv.MaxInFlightSeen(), c.MaxPending())
}

func TestGracefulStop(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	st, err := c.NewStore(ctx, Job{Hostname: "web1", Paths: []string{"/x"}})
	must(t, err)
	data := []byte("chunk before the stop")
	_, err = st.PutSize(ctx, pack.Data, st.Sum(data), data)
	must(t, err)
	must(t, st.Flush(ctx))
	if err := v.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	j, err := v.jobs.Get(st.JobID())
	must(t, err)
	if j.State != jobs.Failed || !strings.Contains(j.Reason, "shutting down") {
		t.Fatalf("job after stop: %+v", j)
	}
	if !v.repo.Has(pack.Data, st.Sum(data)) {
		t.Fatal("flushed blob lost")
	}
	if _, err := c.ListSnapshots(ctx); err == nil {
		t.Fatal("connection still served after stop")
	}
}

func mustPKIX(t *testing.T, cr *Credentials) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(cr.Certificate.Leaf.PublicKey)
	must(t, err)
	return b
}

// TestHelloToOlderVault: a vault that hangs up at Hello without an answer
// (a vault of an older release cannot read this agent's Hello) makes Dial
// fail with the advice to upgrade the vault, not a bare closed connection.
func TestHelloToOlderVault(t *testing.T) {
	v := newVault(t)
	cr := v.enrolAgent(t, "web1")
	cfg, err := v.ca.ServerTLSConfig([]string{"127.0.0.1"})
	must(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	must(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Read the Hello's frame, then hang up as a v4 vault did on
		// a payload with a byte more than it knew.
		if _, err := agentproto.ReadHeader(c, agentproto.MaxPayload); err == nil {
			_ = c.Close()
		}
	}()
	_, err = Dial(context.Background(), ln.Addr().String(), cr, Options{})
	if err == nil || !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "upgrade the vault") {
		t.Fatalf("Dial to a vault that hangs up at Hello: %v", err)
	}
}

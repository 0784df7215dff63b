package appliance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/engine/backup"
	"keep/engine/remote"
)

// TestHostedEngineThroughAPI: hosted mode runs the engine on a directory;
// an operator issues a token through the API, an agent enrols and backs
// up, and the API lists the client, the snapshot and the job, verifies the
// store, hands out the recovery key once, and revokes the client, whose
// next connection is refused.
func TestHostedEngineThroughAPI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	opts := Options{
		Version: "test", Console: &syncBuffer{}, ConfigPath: NoConfigFile, Cmdline: filepath.Join(dir, "none"),
		APISocket:    sock,
		HostedEngine: &HostedEngine{Dir: filepath.Join(dir, "engine"), Listen: "127.0.0.1:0"},
	}
	r := &running{console: opts.Console.(*syncBuffer), client: api.NewUnixClient(sock), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.action, r.err = Run(ctx, opts)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	st := r.waitFor(t, "ready with the engine", func(st api.Status) bool { return st.Ready })
	if len(st.Services) != 2 || st.Services[1].Name != "engine" {
		t.Fatalf("services %+v", st.Services)
	}
	c := r.client
	bg := context.Background()
	evs, err := c.Events(bg, api.EventQuery{Kind: "engine.created"})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Message, "recovery-key") {
		t.Fatalf("creation event %+v %v", evs, err)
	}

	if _, err := c.NewToken(bg, api.TokenRequest{Client: "bad name!"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("bad client name: %v", err)
	}
	tok, err := c.NewToken(bg, api.TokenRequest{Client: "web1", TTLSeconds: 600})
	if err != nil || !strings.HasPrefix(tok.Address, "127.0.0.1:") || tok.Token == "" {
		t.Fatalf("token %+v %v", tok, err)
	}
	cr, err := remote.Enrol(bg, tok.Token, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backupOnce := func() error {
		cl, err := remote.Dial(bg, tok.Address, cr, remote.Options{})
		if err != nil {
			return err
		}
		defer cl.Close()
		src := filepath.Join(dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(src, "f"), []byte(strings.Repeat("data ", 100000)), 0o644); err != nil {
			return err
		}
		st, err := cl.NewStore(bg, remote.Job{Hostname: "web1", Paths: []string{src}})
		if err != nil {
			return err
		}
		res, err := backup.Run(bg, st, []string{src}, backup.Options{Hostname: "web1", Progress: st.Progress})
		if ferr := st.Finish(bg, res, err); err == nil {
			err = ferr
		}
		return err
	}
	if err := backupOnce(); err != nil {
		t.Fatal(err)
	}

	cs, err := c.Clients(bg)
	if err != nil || len(cs) != 1 || cs[0].Name != "web1" || cs[0].Certificates != 1 || !cs[0].Active(time.Now()) {
		t.Fatalf("clients %+v %v", cs, err)
	}
	l, err := c.Snapshots(bg, api.SnapshotQuery{Client: "web1"})
	if err != nil || len(l.Snapshots) != 1 || l.Snapshots[0].Client != "web1" || len(l.Snapshots[0].ID) != 64 {
		t.Fatalf("snapshots %+v %v", l, err)
	}
	if l, _ := c.Snapshots(bg, api.SnapshotQuery{Client: "nobody"}); len(l.Snapshots) != 0 {
		t.Fatalf("filter by client: %+v", l)
	}
	js, err := c.Jobs(bg, api.JobQuery{Client: "web1"})
	if err != nil || len(js) != 1 || js[0].State != "succeeded" || js[0].Counts.BytesSeen != 500000 || js[0].Snapshot != l.Snapshots[0].ID {
		t.Fatalf("jobs %+v %v", js, err)
	}
	if j, err := c.Job(bg, js[0].ID); err != nil || j.ID != js[0].ID {
		t.Fatalf("job %+v %v", j, err)
	}
	if _, err := c.Job(bg, "no-such-job"); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	// The vault's event for the job, once the session has ended.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		evs, _ := c.Events(bg, api.EventQuery{Kind: "engine.job_"})
		if len(evs) == 1 && evs[0].Kind == "engine.job_succeeded" && strings.Contains(evs[0].Message, "web1") {
			break
		}
		if len(evs) > 1 || time.Now().After(deadline) {
			t.Fatalf("job events %+v", evs)
		}
	}

	// Browse and download on the vault, without the client.
	src := filepath.Join(dir, "src")
	ls, err := c.List(bg, api.ListQuery{Snapshot: "latest", Client: "web1", Path: src})
	if err != nil || ls.Path != "src" || len(ls.Entries) != 1 || ls.Entries[0].Path != "/src/f" || ls.Entries[0].Size != 500000 || ls.Entries[0].Snapshot != l.Snapshots[0].ID {
		t.Fatalf("ls %+v %v", ls, err)
	}
	if _, err := c.List(bg, api.ListQuery{Snapshot: "latest", Client: "web1", Path: "/src/f"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("ls of a file: %v", err)
	}
	if _, err := c.List(bg, api.ListQuery{Snapshot: "latest", Client: "web1", Path: "src/nope"}); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("ls of a missing path: %v", err)
	}
	if _, err := c.List(bg, api.ListQuery{Snapshot: "x!", Path: "/"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("ls of a bad snapshot spec: %v", err)
	}
	if f, err := c.Find(bg, api.FindQuery{Pattern: "f", Client: "web1"}); err != nil || len(f.Found) != 1 || f.Found[0].Path != "/src/f" {
		t.Fatalf("find %+v %v", f, err)
	}
	if _, err := c.Find(bg, api.FindQuery{Pattern: "[", Client: "web1"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("find with a bad pattern: %v", err)
	}
	var got bytes.Buffer
	n, snap, err := c.Download(bg, api.ListQuery{Snapshot: l.Snapshots[0].ID[:10], Path: "src/f"}, &got)
	if err != nil || n != 500000 || snap != l.Snapshots[0].ID || got.String() != strings.Repeat("data ", 100000) {
		t.Fatalf("download: %d bytes of %s, %v", n, snap, err)
	}
	if _, _, err := c.Download(bg, api.ListQuery{Snapshot: "latest", Client: "web1", Path: "src"}, &got); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("download of a directory: %v", err)
	}
	if js, err := c.Jobs(bg, api.JobQuery{Client: "web1"}); err != nil || len(js) != 2 || js[0].Kind != "restore" || js[0].State != "succeeded" || js[0].Counts.BytesSent != 500000 {
		t.Fatalf("the download's job: %+v %v", js, err)
	}
	if evs, err := c.Events(bg, api.EventQuery{Kind: "engine.file_downloaded"}); err != nil || len(evs) != 1 || evs[0].Fields["path"] != "/src/f" {
		t.Fatalf("download events %+v %v", evs, err)
	}

	v, err := c.Verify(bg, api.VerifyRequest{Percent: 100})
	if err != nil || v.Job.State != "succeeded" || v.Read == 0 || v.Read != v.Chunks || len(v.Damaged) != 0 {
		t.Fatalf("verify %+v %v", v, err)
	}
	if _, err := c.Verify(bg, api.VerifyRequest{Percent: 101}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("verify 101%%: %v", err)
	}

	sf, err := c.SyntheticFull(bg, api.SyntheticRequest{Client: "web1"})
	if err != nil || sf.Snapshot.Job != "synthetic-full" || sf.Snapshot.Parent.String() != l.Snapshots[0].ID || sf.Job.Kind != "synthetic-full" || sf.Job.State != "succeeded" {
		t.Fatalf("synthetic full %+v %v", sf, err)
	}
	if _, err := c.SyntheticFull(bg, api.SyntheticRequest{Client: "nobody"}); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("synthetic full of an unknown client: %v", err)
	}
	g, err := c.GrantRestore(bg, api.GrantRequest{Client: "web2", Owner: "web1", TTLSeconds: 3600})
	if err != nil || g.Reader != "web2" || g.Owner != "web1" || time.Until(g.Expires) < 59*time.Minute {
		t.Fatalf("grant %+v %v", g, err)
	}
	if _, err := c.GrantRestore(bg, api.GrantRequest{Client: "web1", Owner: "web1"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("grant to oneself: %v", err)
	}
	if gs, err := c.Grants(bg); err != nil || len(gs) != 1 || gs[0] != g {
		t.Fatalf("grants %+v %v, want [%+v]", gs, err, g)
	}
	if err := c.RevokeGrant(bg, "web2", "web1"); err != nil {
		t.Fatalf("revoke grant: %v", err)
	}
	if gs, err := c.Grants(bg); err != nil || len(gs) != 0 {
		t.Fatalf("grants after revoke %+v %v", gs, err)
	}
	if err := c.RevokeGrant(bg, "web2", "web1"); !api.IsCode(err, api.CodeNotFound) || !strings.Contains(err.Error(), "no grant") {
		t.Fatalf("revoking a grant not in force: %v", err)
	}
	for _, kind := range []string{"engine.restore_granted", "engine.restore_grant_revoked"} {
		if evs, err := c.Events(bg, api.EventQuery{Kind: kind}); err != nil || len(evs) != 1 || evs[0].Fields["reader"] != "web2" || evs[0].Fields["owner"] != "web1" {
			t.Fatalf("%s events %+v %v", kind, evs, err)
		}
	}

	k, err := c.RecoveryKey(bg, false)
	if err != nil || !k.OnBox || len(k.Key) < 50 {
		t.Fatalf("recovery key %+v %v", k, err)
	}
	if k, err := c.RecoveryKey(bg, true); err != nil || k.OnBox {
		t.Fatalf("forget %+v %v", k, err)
	}
	if k, err := c.RecoveryKey(bg, false); err != nil || k.OnBox || k.Key != "" {
		t.Fatalf("after forget %+v %v", k, err)
	}
	if es, err := c.EngineStatus(bg); err != nil || es.RecoveryKeyOnBox || es.Snapshots != 2 || es.Clients != 1 {
		t.Fatalf("engine status %+v %v", es, err)
	}

	// The passphrase changes through the API: a short one is a 400, an
	// operator's and a generated one re-wrap the same key, each with an
	// event; neither or both is a 400.
	if _, err := c.ChangePassphrase(bg, api.PassphraseRequest{Passphrase: "short"}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("short passphrase: %v", err)
	}
	if _, err := c.ChangePassphrase(bg, api.PassphraseRequest{}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("no passphrase: %v", err)
	}
	if _, err := c.ChangePassphrase(bg, api.PassphraseRequest{Passphrase: "x", Generate: true}); !api.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("both: %v", err)
	}
	es, err := c.EngineStatus(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []api.PassphraseRequest{{Generate: true}, {Passphrase: "an operator passphrase of some length"}} {
		pc, err := c.ChangePassphrase(bg, req)
		if err != nil || pc.KeyID != es.KeyID || pc.Generated != req.Generate || pc.File == "" {
			t.Fatalf("change passphrase %+v: %+v %v", req, pc, err)
		}
	}
	if evs, err := c.Events(bg, api.EventQuery{Kind: "engine.passphrase_changed"}); err != nil || len(evs) != 2 {
		t.Fatalf("passphrase events %+v %v", evs, err)
	}

	if rr, err := c.Revoke(bg, "web1"); err != nil || rr.Revoked != 1 || rr.Cut != 0 {
		t.Fatalf("revoke %+v %v", rr, err)
	}
	if err := backupOnce(); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked client: %v", err)
	}
	if _, err := c.Revoke(bg, "nobody"); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

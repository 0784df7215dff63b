package qemu

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/engine/backup"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/remote"
	"keep/engine/restore"
)

// TestScenarioEngine: the engine runs as a supervised service on the
// mounted data vault. An agent on the host enrols with a token the
// operator made through the API, backs a tree up over the forwarded agent
// port (mutual TLS), and the API shows the client, the job and the
// snapshot, which lives in /vault/engine. After a reboot the same store
// opens (not created again), the snapshot is there, a restore through the
// vault gives back every byte, and a verify reads everything clean.
func TestScenarioEngine(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	m := storageMachine(t, dir, nil)
	m.Reboot = true
	vm, c, up := bootMachine(t, true, m)
	t.Logf("first boot ready in %.2fs", up)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	es, err := c.EngineStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if es.Dir != "/vault/engine" || es.Snapshots != 0 || !es.RecoveryKeyOnBox {
		t.Fatalf("engine status %+v: want a new store in /vault/engine", es)
	}
	if evs, err := c.Events(ctx, api.EventQuery{Kind: "engine.created"}); err != nil || len(evs) != 1 {
		t.Fatalf("engine.created events %+v %v", evs, err)
	}
	agents, err := vm.HostAddr(APINIC, AgentGuestPort)
	if err != nil {
		t.Fatal(err)
	}
	out, code := ctl(t, vm, "enrol", "web1", "--address", agents)
	tok := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if code != 0 || !strings.HasPrefix(tok, "keep1.") {
		t.Fatalf("keep ctl enrol (exit %d):\n%s", code, out)
	}
	creds, err := remote.Enrol(ctx, tok, remote.Options{})
	if err != nil {
		t.Fatalf("enrol through the forwarded port: %v", err)
	}

	// A tree of text-like and random files, some of them sharing data.
	src := t.TempDir()
	rnd := rand.New(rand.NewPCG(7, 11))
	shared := make([]byte, 3<<20)
	for i := range shared {
		shared[i] = byte(rnd.IntN(256))
	}
	for i := range 24 {
		var b bytes.Buffer
		for b.Len() < 256<<10+i*37<<10 {
			fmt.Fprintf(&b, "line %d of file %d: %x\n", b.Len(), i, rnd.Uint64())
		}
		if i%4 == 0 {
			b.Write(shared)
		}
		sub := filepath.Join(src, fmt.Sprintf("d%d", i%3))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", i)), b.Bytes(), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	agent, err := remote.Dial(ctx, agents, creds, remote.Options{Client: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, err := agent.NewStore(ctx, remote.Job{Hostname: "web1", Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "web1", Progress: st.Progress})
	if ferr := st.Finish(ctx, res, err); err == nil {
		err = ferr
	}
	if err != nil {
		t.Fatalf("backup to the appliance: %v", err)
	}
	agent.Close()
	sum := res.Snapshot.Summary
	t.Logf("backup of %d files, %d bytes (%d new, dedup %.2fx) in %v", sum.FilesSeen, sum.BytesSeen, sum.BytesNew, sum.DedupRatio, time.Since(start).Round(time.Millisecond))
	if sum.FilesSeen != 24 || sum.BytesNew >= sum.BytesSeen {
		t.Errorf("summary %+v: want 24 files and the shared data stored once", sum)
	}

	l, err := c.Snapshots(ctx, api.SnapshotQuery{Client: "web1"})
	if err != nil || len(l.Snapshots) != 1 || l.Snapshots[0].ID != res.Snapshot.ID.String() {
		t.Fatalf("snapshots %+v %v: want %s", l, err, res.Snapshot.ID)
	}
	out, code = ctl(t, vm, "jobs")
	if code != 0 || !strings.Contains(out, "web1") || !strings.Contains(out, "succeeded") {
		t.Fatalf("keep ctl jobs (exit %d):\n%s", code, out)
	}
	t.Logf("keep ctl jobs:\n%s", out)

	// Reboot: the store opens again, with the snapshot.
	if _, err := c.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.QMP().WaitEvent(ctx, "RESET"); err != nil {
		t.Fatalf("no reset after the reboot: %v", err)
	}
	forgetConnections()
	match, err := vm.Console().Expect(ctx, regexp.MustCompile(readyPattern))
	if err != nil {
		t.Fatalf("second boot: %v", err)
	}
	t.Logf("second boot ready in %ss", match[1])
	es2, err := c.EngineStatus(ctx)
	if err != nil || es2.KeyID != es.KeyID || es2.Snapshots != 1 {
		t.Fatalf("second boot engine %+v %v: want key %s with 1 snapshot", es2, err, es.KeyID)
	}
	evs, err := c.Events(ctx, api.EventQuery{Kind: "engine.created"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Boot != evs[0].Boot {
			t.Fatalf("the engine was created again on the second boot: %+v", evs)
		}
	}

	agent, err = remote.Dial(ctx, agents, creds, remote.Options{Client: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	id, err := fingerprint.Parse(l.Snapshots[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := agent.OpenRestore(ctx, id, jobs.Restore, "web1")
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	rr, err := restore.Restore(ctx, rd, rd.Snapshot(), "", target, restore.Options{Workers: 8})
	if ferr := rd.Finish(ctx, nil, err); err == nil {
		err = ferr
	}
	if err != nil || len(rr.Failed) != 0 {
		t.Fatalf("restore from the appliance: %v %+v", err, rr)
	}
	compareTrees(t, src, filepath.Join(target, filepath.Base(src)))

	v, err := c.Verify(ctx, api.VerifyRequest{Percent: 100})
	if err != nil || v.Job.State != jobs.Succeeded || v.Read != v.Chunks || v.Chunks == 0 || len(v.Damaged) != 0 {
		t.Fatalf("verify %+v %v", v, err)
	}
	t.Logf("verify read %d chunks, %d bytes", v.Read, v.Bytes)
}

// compareTrees checks that every regular file under want has the same
// bytes and mode under got, and that got has nothing more.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.Walk(want, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			return fmt.Errorf("restored tree lacks %s: %w", rel, err)
		}
		if gi.Mode() != fi.Mode() {
			return fmt.Errorf("%s: mode %v, want %v", rel, gi.Mode(), fi.Mode())
		}
		if fi.Mode().IsRegular() {
			a, _ := os.ReadFile(p)
			b, err := os.ReadFile(filepath.Join(got, rel))
			if err != nil || !bytes.Equal(a, b) {
				return fmt.Errorf("%s: restored bytes differ (%d vs %d, %v)", rel, len(b), len(a), err)
			}
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	filepath.Walk(got, func(string, os.FileInfo, error) error { m++; return nil })
	if m != n {
		t.Fatalf("restored tree has %d entries, the source %d", m, n)
	}
}

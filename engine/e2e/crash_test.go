package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"keep/engine/jobs"
	"keep/engine/snapshot"
)

// crashIterations is N: 8, 50 with -long, or KEEP_CRASH_ITER.
func crashIterations(t *testing.T) int {
	if s := os.Getenv("KEEP_CRASH_ITER"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KEEP_CRASH_ITER=%q: want a positive number", s)
		}
		return n
	}
	if *long {
		return 50
	}
	return 8
}

// crashSeed makes the kill points: KEEP_CRASH_SEED, or the clock. It is
// logged so a failing run can be repeated.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEEP_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEEP_CRASH_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("crash seed %d (repeat with KEEP_CRASH_SEED=%d)", seed, seed)
	return seed
}

// iterData is each iteration's new data: incompressible and unique, so
// every byte of it must be sent once.
const iterData = 8 << 20

// writeIteration adds src/iter-i with iterData bytes of new files and
// removes src/iter-(i-2), so the tree stays small.
func writeIteration(t *testing.T, src string, r *rand.Rand, i int) string {
	t.Helper()
	_ = os.RemoveAll(filepath.Join(src, fmt.Sprintf("iter-%d", i-2)))
	dir := filepath.Join(src, fmt.Sprintf("iter-%d", i))
	left := iterData
	for k := 0; left > 0; k++ {
		n := min(left, 256<<10+r.IntN(2<<20))
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d", k)), randBytes(r, n, false), 0o644, time.Now())
		left -= n
	}
	return dir
}

var ckptRE = regexp.MustCompile(`checkpoint \d+: .*\((\d+) bytes\) sent so far are durable`)

// checkpointed is the most data a backup's output says was durable.
func checkpointed(stderr string) int64 {
	var best int64
	for _, m := range ckptRE.FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		best = max(best, n)
	}
	return best
}

// afterCrash checks what every crash must leave: the job record failed,
// no running job, the expected snapshots and no others.
func afterCrash(t *testing.T, v *vault, job string, wantSnaps int) {
	t.Helper()
	j := waitJob(t, v.dir, job, func(j *jobs.Job) bool { return j.State != jobs.Running })
	if j.State != jobs.Failed || j.Reason == "" {
		t.Fatalf("job %s of the interrupted backup: state %s, reason %q", job, j.State, j.Reason)
	}
	for _, o := range readJobs(t, v.dir) {
		if o.State == jobs.Running && o.ID != job {
			// Only a job of a live session may run; none is live now.
			t.Fatalf("job %s still running after the crash", o.ID)
		}
	}
}

// retry runs the next backup, which must succeed as an incremental, and
// checks the new data restores.
func retry(t *testing.T, adir, src, iterDir string) summary {
	t.Helper()
	r := agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", "--progress-every", "1h", src)
	s := parseJSON[summary](t, r.stdout)
	if s.Job != snapshot.Incremental {
		t.Fatalf("retry: job %s", s.Job)
	}
	out := t.TempDir()
	agentOK(t, 0, nil, "restore", s.Snapshot[:16], iterDir, "--target", out, "--dir", adir, "--quiet")
	compareTrees(t, iterDir, filepath.Join(out, filepath.Base(iterDir)))
	return s
}

// TestCrashVault SIGKILLs the vault at a seeded point of each backup
// (it kills itself when it has received that many bytes), then checks
// the repository, the snapshots and the job record, and that the next
// backup succeeds without resending what the vault had made durable.
func TestCrashVault(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	n := crashIterations(t)
	v, adir := enrolAgent(t)
	addr := v.addr
	src := filepath.Join(t.TempDir(), "src")
	writeIteration(t, src, rng, -1)
	agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", src)
	snaps := 1
	var resent, total, ckpts int64
	for i := range n {
		iterDir := writeIteration(t, src, rng, i)
		// Kill point: 5–95 % of the new data received.
		kill := int64(float64(iterData) * (0.05 + 0.9*rng.Float64()))
		v.stop()
		v = startVault(t, v.dir, addr, kill)
		r := agent(t, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", "--progress-every", "1h", "--checkpoint", "1M", src)
		killed, exited := v.waitExit(30 * time.Second)
		if !exited || !killed {
			t.Fatalf("iteration %d: vault not killed at %d bytes (exited %v)\nagent: %s\nvault: %s", i, kill, exited, r, v.stderr)
		}
		if r.code != 1 || !strings.Contains(r.stderr, "no snapshot was made") {
			t.Fatalf("iteration %d: agent after the vault died: %s", i, r)
		}
		job := jobOf(r)
		if job == "" {
			t.Fatalf("iteration %d: the agent printed no job ID: %s", i, r)
		}
		// What the crash left on disk, before any recovery.
		if got := checkRepo(t, v.dir); len(got) != snaps {
			t.Fatalf("iteration %d: %d snapshots after the crash, want %d", i, len(got), snaps)
		}
		v = startVault(t, v.dir, addr, 0)
		afterCrash(t, v, job, snaps)
		ck := checkpointed(r.stderr)
		s := retry(t, adir, src, iterDir)
		snaps++
		// The retry sends the new data less what was durable: at least
		// what the last checkpoint flushed (the trees are extra).
		t.Logf("iteration %d: vault killed after %d of %d new bytes received; %d bytes checkpointed; retry sent %d bytes (%.0f%%)",
			i, kill, iterData, ck, s.BytesSent, 100*float64(s.BytesSent)/iterData)
		if s.BytesSent > iterData+256<<10 {
			t.Fatalf("iteration %d: retry sent %d bytes, more than the new data", i, s.BytesSent)
		}
		if ck > 0 {
			ckpts++
			if s.BytesSent >= iterData || s.BytesSent > iterData-ck+256<<10 {
				t.Fatalf("iteration %d: retry resent flushed chunks: sent %d, new data %d, checkpointed %d", i, s.BytesSent, iterData, ck)
			}
		}
		resent += s.BytesSent
		total += iterData
	}
	t.Logf("%d vault kills (%d after a checkpoint): retries sent %d of %d new bytes (%.0f%%)", n, ckpts, resent, total, 100*float64(resent)/float64(total))
	finalCheck(t, v, adir, src, snaps)
}

// TestCrashAgent SIGKILLs the agent at a seeded point of each backup
// (when the vault has received that many bytes): the vault fails the job,
// keeps a clean repository and no snapshot, and the next backup sends only
// what it never received.
func TestCrashAgent(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	n := crashIterations(t)
	v, adir := enrolAgent(t)
	src := filepath.Join(t.TempDir(), "src")
	writeIteration(t, src, rng, -1)
	agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", src)
	snaps := 1
	var resent, total, ckpts int64
	for i := range n {
		iterDir := writeIteration(t, src, rng, i)
		kill := int64(float64(iterData) * (0.05 + 0.9*rng.Float64()))
		base := v.rx.Load()
		cmd := exec.Command(agentBin, "backup", "--dir", adir, "--hostname", testHost, "--progress-every", "1h", "--checkpoint", "1M", src)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
	wait:
		for v.rx.Load()-base < kill {
			select {
			case <-v.rxCh:
			case err := <-done:
				t.Fatalf("iteration %d: agent ended (%v) before the kill point %d (%d received)\n%s", i, err, kill, v.rx.Load()-base, stderr.String())
			case <-deadline:
				break wait
			}
		}
		must(t, cmd.Process.Kill())
		err := <-done
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("iteration %d: agent not killed: %v\n%s", i, err, stderr.String())
		}
		got := v.rx.Load() - base
		job := jobOf(result{stderr: stderr.String()})
		if job == "" {
			t.Fatalf("iteration %d: no job ID before the kill: %s", i, stderr.String())
		}
		afterCrash(t, v, job, snaps)
		r := agentOK(t, 0, nil, "snapshots", "--dir", adir, "--json")
		if n := len(parseJSON[[]snapJSON](t, r.stdout)); n != snaps {
			t.Fatalf("iteration %d: %d snapshots after the agent died, want %d", i, n, snaps)
		}
		// The repository as the running vault has it, read by another
		// process: clean.
		if got := checkRepo(t, v.dir); len(got) != snaps {
			t.Fatalf("iteration %d: %d snapshots in the repository, want %d", i, len(got), snaps)
		}
		ck := checkpointed(stderr.String())
		s := retry(t, adir, src, iterDir)
		snaps++
		t.Logf("iteration %d: agent killed after %d of %d new bytes received (at %d); %d bytes checkpointed; retry sent %d bytes (%.0f%%)",
			i, got, iterData, kill, ck, s.BytesSent, 100*float64(s.BytesSent)/iterData)
		// Blobs the vault stored before the agent died are found by the
		// retry (in packs, or pending until the next flush); requests
		// still in flight at the vault may be dropped with the session,
		// so only what a checkpoint made durable is asserted.
		if s.BytesSent > iterData+256<<10 {
			t.Fatalf("iteration %d: retry sent %d bytes, more than the new data", i, s.BytesSent)
		}
		if ck > 0 {
			ckpts++
			if s.BytesSent >= iterData || s.BytesSent > iterData-ck+256<<10 {
				t.Fatalf("iteration %d: retry resent flushed chunks: sent %d, new data %d, checkpointed %d", i, s.BytesSent, iterData, ck)
			}
		}
		resent += s.BytesSent
		total += iterData
	}
	t.Logf("%d agent kills (%d after a checkpoint): retries sent %d of %d new bytes (%.0f%%)", n, ckpts, resent, total, 100*float64(resent)/float64(total))
	finalCheck(t, v, adir, src, snaps)
}

// finalCheck stops the vault, checks the repository holds snaps
// snapshots and no damage, and restores the last one completely.
func finalCheck(t *testing.T, v *vault, adir, src string, snaps int) {
	t.Helper()
	out := t.TempDir()
	agentOK(t, 0, nil, "restore", "latest", "--target", out, "--dir", adir, "--quiet")
	got := filepath.Join(out, "src")
	compareFiles(t, src, got)
	v.stop()
	if s := checkRepo(t, v.dir); len(s) != snaps {
		t.Fatalf("%d snapshots at the end, want %d", len(s), snaps)
	}
	failed := 0
	for _, j := range readJobs(t, v.dir) {
		switch j.State {
		case jobs.Failed:
			failed++
		case jobs.Running:
			t.Fatalf("job %s running after the vault stopped", j.ID)
		}
	}
	t.Logf("%d snapshots, %d failed jobs, repository clean", snaps, failed)
}

// compareFiles checks the regular files' contents (directory times of a
// tree being changed between backups are not stable).
func compareFiles(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	must(t, filepath.Walk(want, func(p string, fi os.FileInfo, err error) error {
		must(t, err)
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(want, p)
		if !bytes.Equal(readFile(t, p), readFile(t, filepath.Join(got, rel))) {
			t.Fatalf("%s differs", rel)
		}
		n++
		return nil
	}))
	if n == 0 {
		t.Fatal("no files compared")
	}
}

// Command keepbench drives the Keep engine in-process with the command-line
// shape of restic and borg, so bench/run.sh can time it like any other tool:
//
//	keepbench init    -repo DIR
//	keepbench backup  -repo DIR [-parent latest|ID] [-host NAME] PATH...
//	keepbench restore -repo DIR [-snapshot latest|ID] -target DIR
//
// The passphrase comes from $KEEP_PASSPHRASE. DIR holds the key file
// (DIR/keyfile.json, the master key wrapped with keys.DefaultKDF: Argon2id,
// 3 passes over 256 MiB) and the repository (DIR/repo). Each invocation
// unlocks the key file, as restic and borg do on every command.
//
// It measures the engine alone; the product path (keep engine --data DIR as
// the vault plus keep-agent over TLS) is the runner's tool keep-agent
// (bench/cmd/benchrun/agent.go). The runner names this command line in one
// place (keepTool).
//
// Peak memory: the Argon2id unlock alone takes 256 MiB. The vault unlocks once
// at boot and an agent never runs the KDF, so keepbench reports both peaks on
// stderr as a JSON line ("keepbench-stats"): rss_kdf_kib (VmHWM right after
// the unlock) and rss_engine_kib (VmHWM of the job itself, measured after the
// KDF memory is returned to the OS and the high-water mark is reset through
// /proc/self/clear_refs). The runner reports the process peak (the larger) as
// the tool's RSS, like every other tool's, and the engine peak beside it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"keep/bench/internal/proc"
	"keep/engine/backup"
	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/internal/gctune"
)

const keyFileName = "keyfile.json"

type stats struct {
	Cmd          string  `json:"cmd"`
	KDFSeconds   float64 `json:"kdf_s"`
	KDFCPU       float64 `json:"kdf_cpu_s"` // process CPU time at the end of the unlock
	RSSKDFKiB    int64   `json:"rss_kdf_kib"`
	RSSEngineKiB int64   `json:"rss_engine_kib"`
	PeakReset    bool    `json:"peak_reset"`
	OpenS        float64 `json:"open_s"`  // repo.Open after the unlock
	JobS         float64 `json:"job_s"`   // backup.Run or restore.Restore
	CloseS       float64 `json:"close_s"` // repo.Close
	Snapshot     string  `json:"snapshot,omitempty"`
	Parent       string  `json:"parent,omitempty"`
	Summary      any     `json:"summary,omitempty"`
	Skipped      int     `json:"skipped,omitempty"`
	Failed       int     `json:"failed,omitempty"`
	Files        int64   `json:"files,omitempty"`
	Bytes        int64   `json:"bytes,omitempty"`
}

func main() {
	gctune.Apply() // as keep and keep-agent do
	if len(os.Args) < 2 {
		usage()
	}
	ctx := context.Background()
	if p := os.Getenv("KEEP_CPUPROFILE"); p != "" {
		// An investigation knob: a CPU profile of the command.
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	defer func() {
		if stopMemProfile != nil {
			stopMemProfile()
		}
	}()
	var err error
	switch os.Args[1] {
	case "init":
		err = cmdInit(ctx, os.Args[2:])
	case "backup":
		err = cmdBackup(ctx, os.Args[2:])
	case "restore":
		err = cmdRestore(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keepbench %s: %v\n", os.Args[1], err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  keepbench init    -repo DIR
  keepbench backup  -repo DIR [-parent latest|ID] [-host NAME] PATH...
  keepbench restore -repo DIR [-snapshot latest|ID] -target DIR
the passphrase is read from $KEEP_PASSPHRASE`)
	os.Exit(2)
}

func passphrase() ([]byte, error) {
	p := os.Getenv("KEEP_PASSPHRASE")
	if p == "" {
		return nil, errors.New("KEEP_PASSPHRASE is not set")
	}
	return []byte(p), nil
}

func cmdInit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("init", flag.ExitOnError)
	dir := fs.String("repo", "", "directory for the key file and the repository")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("-repo is required")
	}
	pass, err := passphrase()
	if err != nil {
		return err
	}
	st := stats{Cmd: "init"}
	t := time.Now()
	kf, m, _, err := keys.Create(rand.Reader, pass, keys.DefaultKDF())
	if err != nil {
		return err
	}
	st.KDFSeconds = time.Since(t).Seconds()
	st.KDFCPU = cpuSeconds()
	st.RSSKDFKiB = proc.VmHWM(os.Getpid())
	b, err := kf.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*dir, "repo"), 0o700); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(*dir, keyFileName), b); err != nil {
		return err
	}
	r, err := repo.Init(ctx, repo.DirFS(filepath.Join(*dir, "repo")), m, repo.Options{})
	if err != nil {
		return err
	}
	if err := r.Close(ctx); err != nil {
		return err
	}
	st.RSSEngineKiB = proc.VmHWM(os.Getpid())
	report(st)
	return nil
}

// open unlocks the key file and opens the repository, then returns the
// KDF's memory to the OS and resets the peak RSS so the job's own peak can
// be read at the end.
func open(ctx context.Context, dir string, readOnly bool, st *stats) (*repo.Repo, error) {
	pass, err := passphrase()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		return nil, err
	}
	kf, err := keys.Decode(b)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	m, err := kf.Unlock(pass)
	if err != nil {
		return nil, err
	}
	st.KDFSeconds = time.Since(t).Seconds()
	st.KDFCPU = cpuSeconds()
	st.RSSKDFKiB = proc.VmHWM(os.Getpid())
	runtime.GC()
	debug.FreeOSMemory()
	st.PeakReset = proc.ResetPeak(os.Getpid())
	if p := os.Getenv("KEEP_MEMPROFILE"); p != "" {
		// An investigation knob: a heap profile of the job (after the
		// KDF) taken at the largest heap seen, checked every 100 ms.
		stopMemProfile = peakHeapProfile(p)
	}
	t = time.Now()
	opts := repo.Options{ReadOnly: readOnly}
	// Investigation knobs: the bundle parameters (repo.Options).
	opts.BundleSize, _ = strconv.Atoi(os.Getenv("KEEP_BUNDLE_SIZE"))
	opts.BundleBelow, _ = strconv.Atoi(os.Getenv("KEEP_BUNDLE_BELOW"))
	r, err := repo.Open(ctx, repo.DirFS(filepath.Join(dir, "repo")), m, opts)
	st.OpenS = time.Since(t).Seconds()
	return r, err
}

func cmdBackup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ExitOnError)
	dir := fs.String("repo", "", "directory made by init")
	parent := fs.String("parent", "", `parent snapshot: "latest" (same host and paths) or an ID; empty: full backup`)
	host := fs.String("host", "", "hostname recorded (default: os.Hostname)")
	images := fs.Bool("images", false, "back up the regular files directly in each PATH as disk images (block-aligned chunks, zero blocks as holes), as keep-agent backup --image does")
	fs.Parse(args)
	if *dir == "" || fs.NArg() == 0 {
		return errors.New("-repo and at least one PATH are required")
	}
	if *host == "" {
		*host, _ = os.Hostname()
	}
	paths := make([]string, fs.NArg())
	for i, p := range fs.Args() {
		a, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		paths[i] = a
	}
	st := stats{Cmd: "backup"}
	r, err := open(ctx, *dir, false, &st)
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	opts := backup.Options{Hostname: *host} // Workers zero: GOMAXPROCS
	if w, err := strconv.Atoi(os.Getenv("KEEP_BACKUP_WORKERS")); err == nil {
		opts.Workers = w // an experiment knob; the default is the engine's
	}
	if *images {
		for _, p := range paths {
			ents, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if e.Type().IsRegular() {
					opts.Images = append(opts.Images, filepath.Join(p, e.Name()))
				}
			}
		}
		paths = nil
	}
	if *parent != "" {
		match := paths
		if *images {
			match = opts.Images // what an image snapshot records
		}
		p, err := findSnapshot(ctx, r, *parent, *host, match)
		if err != nil {
			return fmt.Errorf("parent: %w", err)
		}
		opts.Parent = p
		st.Parent = p.ID.String()
	}
	t := time.Now()
	res, err := backup.Run(ctx, r, paths, opts)
	if err != nil {
		return err
	}
	st.JobS = time.Since(t).Seconds()
	t = time.Now()
	if err := r.Close(ctx); err != nil {
		return err
	}
	st.CloseS = time.Since(t).Seconds()
	for _, s := range res.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", s.Path, s.Reason)
	}
	st.Snapshot = res.Snapshot.ID.String()
	st.Summary = res.Snapshot.Summary
	st.Skipped = len(res.Skipped)
	st.RSSEngineKiB = proc.VmHWM(os.Getpid())
	report(st)
	fmt.Printf("snapshot %s saved\n", res.Snapshot.ID)
	return nil
}

func cmdRestore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ExitOnError)
	dir := fs.String("repo", "", "directory made by init")
	snapArg := fs.String("snapshot", "latest", `"latest" or a snapshot ID`)
	target := fs.String("target", "", "existing or new directory to restore into")
	fs.Parse(args)
	if *dir == "" || *target == "" {
		return errors.New("-repo and -target are required")
	}
	st := stats{Cmd: "restore"}
	r, err := open(ctx, *dir, true, &st)
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	snap, err := findSnapshot(ctx, r, *snapArg, "", nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*target, 0o755); err != nil {
		return err
	}
	t := time.Now()
	var ropts restore.Options
	if w, err := strconv.Atoi(os.Getenv("KEEP_RESTORE_WORKERS")); err == nil {
		ropts.Workers = w // an experiment knob; the default is the engine's
	}
	res, err := restore.Restore(ctx, r, snap, "", *target, ropts)
	if err != nil {
		return err
	}
	st.JobS = time.Since(t).Seconds()
	for _, f := range res.Failed {
		fmt.Fprintf(os.Stderr, "failed %s: %s\n", f.Path, f.Reason)
	}
	st.Snapshot = snap.ID.String()
	st.Files, st.Bytes, st.Failed = res.Files, res.Bytes, len(res.Failed)
	st.RSSEngineKiB = proc.VmHWM(os.Getpid())
	report(st)
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d items not restored", len(res.Failed))
	}
	return nil
}

// findSnapshot resolves "latest" (the newest; with host and paths: the
// newest of that host and paths) or an ID.
func findSnapshot(ctx context.Context, r *repo.Repo, which, host string, paths []string) (*snapshot.Snapshot, error) {
	if which != "latest" {
		id, err := fingerprint.Parse(which)
		if err != nil {
			return nil, err
		}
		return snapshot.Load(ctx, r, id)
	}
	snaps, damaged, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, d := range damaged {
		fmt.Fprintf(os.Stderr, "damaged snapshot: %v\n", d)
	}
	var s *snapshot.Snapshot
	if host != "" {
		s = snapshot.Latest(snaps, host, paths)
	} else if len(snaps) > 0 {
		s = snaps[len(snaps)-1]
	}
	if s == nil {
		return nil, errors.New("no snapshot found")
	}
	return s, nil
}

func report(st stats) {
	b, _ := json.Marshal(st)
	fmt.Fprintf(os.Stderr, "keepbench-stats %s\n", b)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var stopMemProfile func()

// peakHeapProfile writes a heap profile to path whenever the heap in use
// reaches a new peak; stop ends it.
func peakHeapProfile(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+peak/20 {
				peak = ms.HeapInuse
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Command benchrun is the benchmark runner behind bench/run.sh: it builds the
// deterministic corpora (bench/corpus), then for each corpus runs every tool
// (keep, restic, borg, and kopia if $KOPIA names a binary) through init,
// backup of gen1, incremental backup of gen2 and restore of gen2, step by
// step with the tools alternated (the order rotates per repetition), and
// records wall time, CPU time, peak RSS (wait4 rusage) and repository size
// (du) after each step. The input is read again right before each timed
// backup and the repository right before each restore (the page cache here
// drops untouched data after ~30 s); dirty pages are synced, untimed, after
// every step so no tool pays for another's writeback. Every restore is
// compared with gen2 (entries, types, modes, symlinks, contents); a mismatch
// fails the run. Every restore goes into a fresh filesystem of its own
// (restorefs.go), removed only after all tools restored.
//
// All tools back up the same live tree: gen1 is copied once per repetition,
// every tool backs it up, then it is changed into gen2 in place (the same
// inodes, as on a real server) and every tool backs it up again.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"keep/bench/corpus"
	"keep/bench/internal/proc"
)

type step struct {
	Corpus     string  `json:"corpus"`
	Tool       string  `json:"tool"`
	Rep        int     `json:"rep"`
	Step       string  `json:"step"` // init, backup1, backup2, restore
	WallS      float64 `json:"wall_s"`
	UserS      float64 `json:"user_s"`
	SysS       float64 `json:"sys_s"`
	CPUS       float64 `json:"cpu_s"`
	RSSKiB     int64   `json:"rss_kib"`        // process peak (keep: including the KDF; keep-agent: agent + vault)
	RSSRusage  int64   `json:"rss_rusage_kib"` // wait4's ru_maxrss
	RepoBytes  int64   `json:"repo_bytes"`     // du of the repository after the step
	InputBytes int64   `json:"input_bytes"`    // bytes of the corpus generation this step reads or writes
	Load1      float64 `json:"load1_before"`
	// keep only (from keepbench's stats line)
	KDFS         float64         `json:"kdf_s,omitempty"`
	KDFCPUS      float64         `json:"kdf_cpu_s,omitempty"`
	RSSEngineKiB int64           `json:"rss_engine_kib,omitempty"`
	KeepStats    json.RawMessage `json:"keepbench_stats,omitempty"`
	// keep-agent only: the vault's share, included in CPUS and RSSKiB
	VaultCPUS   float64 `json:"vault_cpu_s,omitempty"`
	VaultRSSKiB int64   `json:"vault_rss_kib,omitempty"`
	// WireBytes: keep-agent's bytes over 127.0.0.1 during the step
	// (the loopback's receive counter: TLS both ways, TCP/IP headers).
	WireBytes int64  `json:"wire_bytes,omitempty"`
	Log       string `json:"log"`
}

type results struct {
	Started   time.Time               `json:"started"`
	Finished  time.Time               `json:"finished"`
	Machine   map[string]string       `json:"machine"`
	Params    map[string]string       `json:"params"`
	Tools     map[string]string       `json:"tools"`
	Corpora   map[string]*corpus.Info `json:"corpora"`
	Changes   map[string]any          `json:"changes"`
	Steps     []step                  `json:"steps"`
	Compare   map[string]*corpus.Diff `json:"compare"`
	Summary   map[string][]summaryRow `json:"summary"`
	Ratios    map[string][]ratioRow   `json:"ratios"`
	LoadRange [2]float64              `json:"load1_min_max"`
}

var (
	vmSkew  float64
	work    string
	resDir  string
	logDir  string
	res     = &results{}
	verbose = true
)

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func fatalf(format string, a ...any) {
	logf("FAIL: "+format, a...)
	os.Exit(1)
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suf string
		m   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f * u.m), err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func main() {
	quick := flag.Bool("quick", false, "small scale: 100 MiB fs, 256 MiB vm")
	fsSize := flag.String("fs-size", "1.75GiB", "file-server corpus size")
	vmSize := flag.String("vm-size", "2GiB", "disk-image corpus size")
	seed := flag.Uint64("seed", 1, "corpus seed")
	corpora := flag.String("corpora", "fs,vm", "corpora to run")
	toolList := flag.String("tools", "keep,restic,borg", "tools (kopia is added when $KOPIA is set)")
	reps := flag.Int("reps", 1, "repetitions (medians are reported)")
	flag.StringVar(&work, "work", "bench/_work", "scratch directory (corpora are cached here)")
	flag.StringVar(&resDir, "results", "bench/results", "results directory (a timestamped subdirectory is made)")
	keepBin := flag.String("keepbench", "", "keepbench binary (bench/run.sh builds it)")
	keepBase := flag.String("keepbench-base", "", "a second keepbench binary, run as tool keep-base (before/after in one run)")
	keepCmd := flag.String("keep-bin", "", "keep binary, the vault of tool keep-agent (bench/run.sh builds it)")
	agentCmd := flag.String("agent-bin", "", "keep-agent binary, for tool keep-agent (bench/run.sh builds it)")
	keepRepos := flag.Bool("keep-repos", false, "leave the repositories in the work directory")
	buildOnly := flag.Bool("build-only", false, "build (or find cached) corpora and exit")
	flag.Float64Var(&vmSkew, "vm-write-skew", 1, "image gen2 write sizes 4 KiB·2^k, k=0..8, P(k) ∝ 2^(-skew·k)")
	keepSource := flag.String("keep-source", "", "what keepbench was built from (run.sh sets it)")
	flag.StringVar(&restoreFS, "restore-fs", "ext4", `restore into a fresh filesystem of this type per tool and step, loop-mounted (root), or "" for the work directory's`)
	flag.Parse()
	if restoreFS != "" && restoreFS != "ext4" {
		fatalf("-restore-fs %q: use ext4 or \"\"", restoreFS)
	}
	if restoreFS != "" && os.Geteuid() != 0 {
		fatalf("-restore-fs %s loop-mounts a fresh filesystem for every restore, which needs root: run as root, or with -restore-fs \"\" to restore into the work directory", restoreFS)
	}
	if *quick {
		*fsSize, *vmSize = "100MiB", "256MiB"
	}
	fsBytes, err := parseSize(*fsSize)
	if err != nil {
		fatalf("-fs-size: %v", err)
	}
	vmBytes, err := parseSize(*vmSize)
	if err != nil {
		fatalf("-vm-size: %v", err)
	}
	work, _ = filepath.Abs(work)
	resDir, _ = filepath.Abs(resDir)
	res.Started = time.Now().UTC()
	resDir = filepath.Join(resDir, res.Started.Format("20060102T150405Z"))
	logDir = filepath.Join(resDir, "logs")
	must(os.MkdirAll(logDir, 0o755))

	var tools []tool
	for _, name := range strings.Split(*toolList, ",") {
		switch name {
		case "keep":
			if *keepBin == "" {
				fatalf("-keepbench is required for keep")
			}
			b, _ := filepath.Abs(*keepBin)
			tools = append(tools, keepTool(b))
			if *keepBase != "" {
				b, _ := filepath.Abs(*keepBase)
				tools = append(tools, keepToolNamed("keep-base", b))
			}
		case "keep-agent":
			if *keepCmd == "" || *agentCmd == "" {
				fatalf("-keep-bin and -agent-bin are required for keep-agent")
			}
			k, _ := filepath.Abs(*keepCmd)
			a, _ := filepath.Abs(*agentCmd)
			tools = append(tools, agentTool(k, a))
		case "restic":
			tools = append(tools, resticTool())
		case "borg":
			tools = append(tools, borgTool())
		case "kopia":
		default:
			fatalf("unknown tool %q", name)
		}
	}
	if k := os.Getenv("KOPIA"); k != "" {
		tools = append(tools, kopiaTool(k))
	}
	res.Tools = map[string]string{}
	for _, t := range tools {
		res.Tools[t.name] = t.version()
	}
	res.Machine = machineInfo()
	res.Params = map[string]string{"fs_size": *fsSize, "vm_size": *vmSize, "seed": fmt.Sprint(*seed),
		"reps": fmt.Sprint(*reps), "corpora": *corpora, "quick": fmt.Sprint(*quick), "work": work,
		"vm_write_skew": fmt.Sprint(vmSkew), "keep_source": *keepSource,
		"restore_fs": restoreFS}
	res.Corpora = map[string]*corpus.Info{}
	res.Changes = map[string]any{}
	res.Compare = map[string]*corpus.Diff{}
	res.LoadRange = [2]float64{1e9, 0}
	logf("results in %s", resDir)

	for _, c := range strings.Split(*corpora, ",") {
		size := fsBytes
		if c == "vm" {
			size = vmBytes
		} else if c != "fs" {
			fatalf("unknown corpus %q", c)
		}
		info, dir := ensureCorpus(c, size, *seed)
		res.Corpora[c] = info
		if *buildOnly {
			continue
		}
		runCorpus(c, dir, info, tools, *reps, *seed, *keepRepos)
	}
	if *buildOnly {
		os.RemoveAll(resDir)
		return
	}
	res.Finished = time.Now().UTC()
	summarize(tools)
	b, _ := json.MarshalIndent(res, "", "  ")
	must(os.WriteFile(filepath.Join(resDir, "results.json"), b, 0o644))
	md := markdown(tools)
	must(os.WriteFile(filepath.Join(resDir, "results.md"), []byte(md), 0o644))
	fmt.Print(md)
	logf("wrote %s/results.{json,md}", resDir)
}

func must(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

// ensureCorpus builds the corpus once per (kind, size, seed) and caches it.
func ensureCorpus(kind string, size int64, seed uint64) (*corpus.Info, string) {
	dir := filepath.Join(work, "corpus", fmt.Sprintf("%s-%d-s%d", kind, size, seed))
	stamp := filepath.Join(dir, "info.json")
	if b, err := os.ReadFile(stamp); err == nil {
		var info corpus.Info
		if json.Unmarshal(b, &info) == nil {
			logf("corpus %s: cached in %s (%d files, %.0f MiB)", kind, dir, info.Files, mib(info.Bytes))
			return &info, dir
		}
	}
	logf("corpus %s: building %.0f MiB in %s", kind, mib(size), dir)
	must(os.RemoveAll(dir))
	must(os.MkdirAll(dir, 0o755))
	var info *corpus.Info
	var err error
	if kind == "fs" {
		info, err = corpus.BuildFS(dir, size, seed)
	} else {
		info, err = corpus.BuildVM(dir, size, seed)
	}
	must(err)
	b, _ := json.MarshalIndent(info, "", "  ")
	must(os.WriteFile(stamp, b, 0o644))
	logf("corpus %s: %d files, %.0f MiB, digest %s, %.0f s", kind, info.Files, mib(info.Bytes), info.Digest[:16], info.BuildSecond)
	return info, dir
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func settle() {
	syscall.Sync()
	time.Sleep(time.Second)
}

func runCorpus(c, dir string, info *corpus.Info, tools []tool, reps int, seed uint64, keepRepos bool) {
	live := filepath.Join(work, "live")
	var targets []string
	for rep := 0; rep < reps; rep++ {
		// Fresh gen1 copy: the tree every tool backs up.
		must(os.RemoveAll(live))
		must(os.MkdirAll(live, 0o755))
		src := filepath.Join(dir, "gen1")
		if c == "vm" {
			must(os.MkdirAll(filepath.Join(live, c), 0o755))
			must(sh("", "cp", "--sparse=never", filepath.Join(dir, "gen1.img"), filepath.Join(live, c, "disk.img")))
		} else {
			must(sh("", "cp", "-a", src, filepath.Join(live, c)))
		}
		settle()
		order := make([]tool, len(tools))
		for i := range tools {
			order[i] = tools[(i+rep)%len(tools)]
		}
		jobs := map[string]*job{}
		for _, t := range order {
			j := &job{corpus: c, liveDir: live,
				repo:   filepath.Join(work, "repos", c, fmt.Sprintf("%s-r%d", t.name, rep)),
				aux:    filepath.Join(work, "aux", c, fmt.Sprintf("%s-r%d", t.name, rep)),
				target: filepath.Join(work, "restore", c, fmt.Sprintf("%s-r%d", t.name, rep))}
			must(os.RemoveAll(j.repo))
			must(os.RemoveAll(j.aux))
			must(clearTarget(j.target))
			must(os.MkdirAll(filepath.Dir(j.repo), 0o755))
			must(os.MkdirAll(j.aux, 0o755))
			jobs[t.name] = j
		}
		for _, t := range order {
			if t.start != nil {
				must(t.start(jobs[t.name]))
			}
			timed(t, jobs[t.name], rep, "init", t.init(jobs[t.name]), 0)
		}
		gen1Bytes := info.Bytes
		for _, t := range order {
			j := jobs[t.name]
			_, err := corpus.Warm(j.src())
			must(err)
			timed(t, j, rep, "backup1", t.backup(j, 1), gen1Bytes)
			if t.afterBackup != nil {
				must(t.afterBackup(j, 1, t.env(j)))
			}
		}
		// gen1 → gen2 in place.
		var change any
		if c == "vm" {
			ch, err := corpus.MutateVM(filepath.Join(live, c, "disk.img"), seed, vmSkew)
			must(err)
			change = ch
		} else {
			ch, err := corpus.MutateFS(filepath.Join(live, c), filepath.Join(dir, "pool"), seed)
			must(err)
			change = ch
		}
		gen2Bytes := treeBytes(filepath.Join(live, c))
		if rep == 0 {
			d, err := corpus.Digest(filepath.Join(live, c))
			must(err)
			res.Changes[c] = map[string]any{"change": change, "gen2_bytes": gen2Bytes, "gen2_digest": d}
			logf("%s gen2: %s, %.0f MiB, digest %s", c, strings.TrimPrefix(fmt.Sprintf("%+v", change), "&"), mib(gen2Bytes), d[:16])
		}
		settle()
		for _, t := range order {
			j := jobs[t.name]
			_, err := corpus.Warm(j.src())
			must(err)
			timed(t, j, rep, "backup2", t.backup(j, 2), gen2Bytes)
			if t.afterBackup != nil {
				must(t.afterBackup(j, 2, t.env(j)))
			}
		}
		for _, t := range order {
			j := jobs[t.name]
			must(prepareTarget(j.target, gen2Bytes))
			_, err := corpus.Warm(j.repo)
			must(err)
			timed(t, j, rep, "restore", t.restore(j), gen2Bytes)
			targets = append(targets, j.target)
			if t.stop != nil {
				t.stop(j)
			}
		}
		for _, t := range order {
			j := jobs[t.name]
			d, err := corpus.Compare(filepath.Join(live, c), t.restored(j))
			if err != nil {
				fatalf("%s %s: compare: %v", c, t.name, err)
			}
			res.Compare[fmt.Sprintf("%s/%s/r%d", c, t.name, rep)] = d
			if !d.OK() {
				fatalf("%s %s: the restore differs from gen2 in %d places: %s", c, t.name, d.Problems, strings.Join(d.Examples, "; "))
			}
			logf("%s %s: restore matches gen2 (%d entries, %.0f MiB; %d mtimes differ)", c, t.name, d.Entries, mib(d.Bytes), d.MtimeMismatch)
		}
		// The restores' own filesystems go once compared (their
		// images are single files: deleting them costs the next
		// steps no inode scans).
		must(unmountTargets())
		if !keepRepos {
			for _, j := range jobs {
				os.RemoveAll(j.repo)
				os.RemoveAll(j.aux)
			}
		}
	}
	// Only now, after every tool restored: delete the restore outputs.
	for _, t := range targets {
		must(os.RemoveAll(t))
	}
	must(os.RemoveAll(live))
	settle()
}

func treeBytes(root string) int64 {
	var n int64
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func sh(dir string, argv ...string) error {
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

func load1() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

// timed runs one step of one tool and records it; a failing step fails the run.
func timed(t tool, j *job, rep int, name string, cl cmdline, input int64) step {
	settle()
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%s-r%d-%s.log", j.corpus, t.name, rep, name))
	lf, err := os.Create(logPath)
	must(err)
	defer lf.Close()
	fmt.Fprintf(lf, "$ (cd %q) %s\n", cl.dir, strings.Join(cl.argv, " "))
	cmd := exec.Command(cl.argv[0], cl.argv[1:]...)
	cmd.Dir = cl.dir
	cmd.Env = t.env(j)
	cmd.Stdout = lf
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var stats []string
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if s, ok := strings.CutPrefix(line, "keepbench-stats "); ok {
				stats = append(stats, s)
			}
		}
		io.Copy(io.Discard, pr)
		close(done)
	}()
	st := step{Corpus: j.corpus, Tool: t.name, Rep: rep, Step: name, InputBytes: input, Load1: load1(), Log: logPath}
	res.LoadRange[0] = min(res.LoadRange[0], st.Load1)
	res.LoadRange[1] = max(res.LoadRange[1], st.Load1)
	var vaultCPU float64
	var wire int64
	if j.vault != nil {
		proc.ResetPeak(j.vault.cmd.Process.Pid)
		vaultCPU = proc.CPU(j.vault.cmd.Process.Pid)
		wire = proc.LoopbackBytes()
	}
	start := time.Now()
	err = cmd.Run()
	st.WallS = time.Since(start).Seconds()
	if j.vault != nil {
		st.VaultCPUS = proc.CPU(j.vault.cmd.Process.Pid) - vaultCPU
		st.VaultRSSKiB = proc.VmHWM(j.vault.cmd.Process.Pid)
		st.WireBytes = proc.LoopbackBytes() - wire
	}
	pw.Close()
	<-done
	if err != nil {
		fatalf("%s %s %s failed: %v (log %s)", j.corpus, t.name, name, err, logPath)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	st.UserS = time.Duration(ru.Utime.Nano()).Seconds()
	st.SysS = time.Duration(ru.Stime.Nano()).Seconds()
	st.CPUS = st.UserS + st.SysS + st.VaultCPUS
	st.RSSRusage = ru.Maxrss
	st.RSSKiB = ru.Maxrss + st.VaultRSSKiB
	if len(stats) > 0 {
		var ks struct {
			KDFS      float64 `json:"kdf_s"`
			KDFCPU    float64 `json:"kdf_cpu_s"`
			RSSKDF    int64   `json:"rss_kdf_kib"`
			RSSEngine int64   `json:"rss_engine_kib"`
		}
		if json.Unmarshal([]byte(stats[len(stats)-1]), &ks) == nil {
			st.KeepStats = json.RawMessage(stats[len(stats)-1])
			st.KDFS, st.KDFCPUS, st.RSSEngineKiB = ks.KDFS, ks.KDFCPU, ks.RSSEngine
			st.RSSKiB = max(st.RSSKiB, ks.RSSKDF, ks.RSSEngine)
		}
	}
	settle()
	st.RepoBytes = corpus.Du(j.repo)
	res.Steps = append(res.Steps, st)
	logf("%s %-7s %-7s r%d: %6.2f s wall, %6.2f s CPU, %5.0f MiB RSS, repo %6.1f MiB, load %.2f",
		j.corpus, t.name, name, rep, st.WallS, st.CPUS, float64(st.RSSKiB)/1024, mib(st.RepoBytes), st.Load1)
	return st
}

func machineInfo() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "nproc": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["mem"] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		m["commit"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("df", "-T", work).Output(); err == nil {
		l := strings.Split(strings.TrimSpace(string(out)), "\n")
		if f := strings.Fields(l[len(l)-1]); len(f) > 1 {
			m["work_fs"] = f[1]
		}
	}
	return m
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

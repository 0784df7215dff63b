package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// job is one corpus's run of one tool: where its repository, live input and
// restore target are.
type job struct {
	corpus  string // "fs" or "vm": also the name of the backed-up directory
	liveDir string // the parent of the backed-up directory
	repo    string // repository directory (its du is the repo size)
	aux     string // tool state outside the repository (caches, config)
	target  string // fresh restore directory
	parent  string // snapshot ID of backup 1, for tools that need it
	vault   *vault // keep-agent: the running keep engine
}

func (j *job) src() string { return filepath.Join(j.liveDir, j.corpus) }

// cmdline is one command to time.
type cmdline struct {
	argv []string
	dir  string
}

// tool describes how to drive one backup program.
type tool struct {
	name    string
	version func() string
	env     func(j *job) []string
	init    func(j *job) cmdline
	backup  func(j *job, gen int) cmdline // gen 2 is the incremental
	// afterBackup runs untimed after backup gen (e.g. to learn the snapshot ID).
	afterBackup func(j *job, gen int, env []string) error
	restore     func(j *job) cmdline
	// restored is where the backed-up directory appears under the target.
	restored func(j *job) string
	// start runs untimed before the job's init, stop after its restore
	// (keep-agent: the vault); both optional.
	start func(j *job) error
	stop  func(j *job)
}

const passphrase = "keep-bench-passphrase-0123456789"

func run(argv []string, dir string, env []string) ([]byte, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = env
	return c.Output()
}

func versionOf(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// keepTool is THE one place the keepbench command line is defined. It drives
// the engine in-process through bench/cmd/keepbench; the product path is
// agentTool (agent.go).
func keepTool(bin string) tool { return keepToolNamed("keep", bin) }

// keepToolNamed is keep under another name: "keep-base" runs a second
// keepbench (-keepbench-base, e.g. built from an older commit) beside the
// current one, so before/after figures come from one run. Rows of any tool
// named keep* are keep rows (never the "best peer").
func keepToolNamed(name, bin string) tool {
	return tool{
		name:    name,
		version: func() string { return "engine in-process (bench/cmd/keepbench " + bin + ")" },
		env: func(j *job) []string {
			return append(os.Environ(), "KEEP_PASSPHRASE="+passphrase)
		},
		init: func(j *job) cmdline {
			return cmdline{argv: []string{bin, "init", "-repo", j.repo}}
		},
		backup: func(j *job, gen int) cmdline {
			a := []string{bin, "backup", "-repo", j.repo, "-host", "bench"}
			if gen == 2 {
				a = append(a, "-parent", "latest")
			}
			if j.corpus == "vm" {
				// A disk image is backed up as one (keep-agent
				// backup --image): block-aligned chunks, zero blocks as holes.
				a = append(a, "-images")
			}
			return cmdline{argv: append(a, j.src())}
		},
		restore: func(j *job) cmdline {
			target := j.target
			if j.corpus == "vm" {
				// Image nodes are at the snapshot's root.
				target = filepath.Join(j.target, j.corpus)
			}
			return cmdline{argv: []string{bin, "restore", "-repo", j.repo, "-snapshot", "latest", "-target", target}}
		},
		restored: func(j *job) string { return filepath.Join(j.target, j.corpus) },
	}
}

func resticTool() tool {
	return tool{
		name:    "restic",
		version: func() string { return versionOf("restic", "version") },
		env: func(j *job) []string {
			return append(os.Environ(), "RESTIC_PASSWORD="+passphrase,
				"RESTIC_CACHE_DIR="+filepath.Join(j.aux, "cache"))
		},
		init: func(j *job) cmdline {
			return cmdline{argv: []string{"restic", "-r", j.repo, "init"}}
		},
		backup: func(j *job, gen int) cmdline {
			a := []string{"restic", "-r", j.repo, "backup", "--host", "bench"}
			if gen == 2 {
				a = append(a, "--parent", j.parent)
			}
			return cmdline{argv: append(a, j.src())}
		},
		afterBackup: func(j *job, gen int, env []string) error {
			if gen != 1 {
				return nil
			}
			out, err := run([]string{"restic", "-r", j.repo, "snapshots", "--json"}, "", env)
			if err != nil {
				return fmt.Errorf("restic snapshots: %w", err)
			}
			var snaps []struct {
				ID   string `json:"id"`
				Time string `json:"time"`
			}
			if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) == 0 {
				return fmt.Errorf("restic snapshots: %v (%d)", err, len(snaps))
			}
			sort.Slice(snaps, func(a, b int) bool { return snaps[a].Time < snaps[b].Time })
			j.parent = snaps[len(snaps)-1].ID
			return nil
		},
		restore: func(j *job) cmdline {
			return cmdline{argv: []string{"restic", "-r", j.repo, "restore", "latest", "--target", j.target}}
		},
		restored: func(j *job) string { return filepath.Join(j.target, j.src()) },
	}
}

func borgTool() tool {
	return tool{
		name:    "borg",
		version: func() string { return versionOf("borg", "--version") },
		env: func(j *job) []string {
			return append(os.Environ(), "BORG_PASSPHRASE="+passphrase,
				"BORG_BASE_DIR="+j.aux, "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes")
		},
		init: func(j *job) cmdline {
			return cmdline{argv: []string{"borg", "init", "--encryption=repokey", j.repo}}
		},
		backup: func(j *job, gen int) cmdline {
			return cmdline{argv: []string{"borg", "create", "--stats", fmt.Sprintf("%s::gen%d", j.repo, gen), j.corpus}, dir: j.liveDir}
		},
		restore: func(j *job) cmdline {
			return cmdline{argv: []string{"borg", "extract", j.repo + "::gen2"}, dir: j.target}
		},
		restored: func(j *job) string { return filepath.Join(j.target, j.corpus) },
	}
}

// kopiaTool drives the kopia binary at bin (not a Debian package; optional).
func kopiaTool(bin string) tool {
	cfg := func(j *job) string { return "--config-file=" + filepath.Join(j.aux, "kopia.config") }
	return tool{
		name:    "kopia",
		version: func() string { return versionOf(bin, "--version") },
		env: func(j *job) []string {
			return append(os.Environ(), "KOPIA_PASSWORD="+passphrase, "KOPIA_CHECK_FOR_UPDATES=false",
				"KOPIA_LOG_DIR="+filepath.Join(j.aux, "logs"))
		},
		init: func(j *job) cmdline {
			return cmdline{argv: []string{bin, cfg(j), "repository", "create", "filesystem",
				"--path=" + j.repo, "--cache-directory=" + filepath.Join(j.aux, "cache")}}
		},
		backup: func(j *job, gen int) cmdline {
			return cmdline{argv: []string{bin, cfg(j), "snapshot", "create", j.src()}}
		},
		afterBackup: func(j *job, gen int, env []string) error {
			out, err := run([]string{bin, cfg(j), "snapshot", "list", "--json", j.src()}, "", env)
			if err != nil {
				return fmt.Errorf("kopia snapshot list: %w", err)
			}
			var snaps []struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) == 0 {
				return fmt.Errorf("kopia snapshot list: %v (%d)", err, len(snaps))
			}
			j.parent = snaps[len(snaps)-1].ID // the latest, restored later
			return nil
		},
		restore: func(j *job) cmdline {
			return cmdline{argv: []string{bin, cfg(j), "snapshot", "restore", j.parent, filepath.Join(j.target, j.corpus)}}
		},
		restored: func(j *job) string { return filepath.Join(j.target, j.corpus) },
	}
}

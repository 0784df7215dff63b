package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The product path: `keep engine --data DIR` is the vault and `keep-agent`
// the timed commands, over mutual TLS on 127.0.0.1, both on this machine's
// cores (on a real site the agent runs on the customer's server). The
// vault is started, untimed, before the job's init (it unlocks its
// passphrase once, as the appliance does at boot) and enrols the agent's
// client; it is stopped after the job's restore. Each step's CPU time is
// the agent's plus the vault's during the step (/proc/PID/stat), and its
// RSS the agent's peak plus the vault's peak during the step (VmHWM, reset
// through /proc/PID/clear_refs before the step).

// vault is a running `keep engine`.
type vault struct {
	cmd   *exec.Cmd
	token string // the enrolment token for the job's agent
}

// agentTool drives keep-agent against a keep engine it starts per job.
func agentTool(keepBin, agentBin string) tool {
	credDir := func(j *job) string { return filepath.Join(j.aux, "agent") }
	return tool{
		name: "keep-agent",
		version: func() string {
			return "product path: keep engine (" + keepBin + ") + keep-agent (" + agentBin + ") over TLS on 127.0.0.1"
		},
		env: func(j *job) []string { return os.Environ() },
		start: func(j *job) error {
			v, err := startVault(keepBin, j)
			j.vault = v
			return err
		},
		stop: func(j *job) {
			if j.vault != nil {
				_ = j.vault.cmd.Process.Signal(syscall.SIGTERM)
				_ = j.vault.cmd.Wait()
				j.vault = nil
			}
		},
		init: func(j *job) cmdline {
			return cmdline{argv: []string{agentBin, "enrol", j.vault.token, "--dir", credDir(j)}}
		},
		backup: func(j *job, gen int) cmdline {
			a := []string{agentBin, "backup", "--dir", credDir(j), "--quiet", "--hostname", "bench"}
			if j.corpus == "vm" {
				// The disk image whole (block-aligned chunks, zero
				// blocks as holes), as keepbench -images does.
				return cmdline{argv: append(a, "--image", filepath.Join(j.src(), "disk.img"))}
			}
			return cmdline{argv: append(a, j.src())}
		},
		restore: func(j *job) cmdline {
			// Restored under the target by the backed-up path's last
			// element (the image by its file name).
			target := j.target
			if j.corpus == "vm" {
				target = filepath.Join(j.target, j.corpus)
			}
			return cmdline{argv: []string{agentBin, "restore", "latest", "--dir", credDir(j), "--quiet", "--target", target}}
		},
		restored: func(j *job) string { return filepath.Join(j.target, j.corpus) },
	}
}

// startVault starts keep engine with its data directory at j.repo (so the
// repository size is of everything the vault keeps) and creates an
// enrolment token for client "bench".
func startVault(keepBin string, j *job) (*vault, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	sock := filepath.Join(j.aux, "api.sock")
	lf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("%s-keep-agent-vault-%s.log", j.corpus, filepath.Base(j.repo))))
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(keepBin, "engine", "--data", j.repo, "--listen", addr, "--api", sock)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // gone with the runner
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	v := &vault{cmd: cmd}
	// Ready when the API answers an enrolment.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(keepBin, "ctl", "--socket", sock, "enrol", "bench", "--address", addr).Output()
		if err == nil {
			v.token = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
			return v, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("keep engine on %s: no enrolment within 60 s: %v", j.repo, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Command nocinit is PID 1 of the NOC guest image (package keep/qemu/noc):
// it mounts the kernel file systems, loads the image's module list, reaps
// orphans and serves the host's agent requests (run a bash script, read or
// write a file, power off) over a virtio-serial port. It is also the image's
// /sbin/modprobe (the kernel's request_module) and, when the build host has
// no iputils, its /usr/bin/ping: one static binary, chosen by argv[0].
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"keep/appliance/kmod"
	"keep/appliance/pid1"
	"keep/qemu/noc/internal/proto"
)

// ModuleListPath lists the modules loaded at boot, in load order.
const ModuleListPath = "/etc/noc/modules"

// agentDir holds the temporary output files of running scripts.
const agentDir = "/run/agent"

// agentName is argv[0] of the agent process PID 1 starts.
const agentName = "nocagent"

// baseEnv is the environment of every script.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "TERM=dumb", "LANG=C", "USER=root", "SHELL=/bin/bash",
}

func main() {
	switch filepath.Base(os.Args[0]) {
	case "modprobe":
		err := kmod.Modprobe(context.Background(), os.Args[1:], os.Stderr)
		if kmsg, kerr := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); kerr == nil {
			outcome := "loaded"
			if err != nil {
				outcome = "failed: " + err.Error()
			}
			fmt.Fprintf(kmsg, "<6>noc-modprobe: %s: %s\n", strings.Join(os.Args[1:], " "), outcome)
			kmsg.Close()
		}
		if err != nil {
			os.Exit(1)
		}
		return
	case "ping":
		os.Exit(pingMain(os.Args[1:]))
	case agentName:
		agentMain()
		return
	}
	if !pid1.IsPID1() {
		fmt.Fprintln(os.Stderr, "nocinit: PID 1 of the NOC guest image; also runs as modprobe and ping")
		os.Exit(2)
	}
	initMain()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "noc: "+format+"\n", args...)
}

func initMain() {
	signal.Ignore(syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPIPE)
	defer func() {
		if r := recover(); r != nil {
			logf("PANIC: %v", r)
			hang()
		}
	}()
	if err := pid1.MountAll(pid1.EarlyMounts()); err != nil {
		logf("mounts: %v", err)
	}
	for _, d := range []string{agentDir, "/var/log", "/var/lib", "/root", "/run/netns"} {
		_ = os.MkdirAll(d, 0o755)
	}
	params := kmod.Params{}
	if data, err := os.ReadFile("/proc/cmdline"); err == nil {
		params = kmod.ParseCmdline(string(data))
		for _, f := range strings.Fields(string(data)) {
			if v, ok := strings.CutPrefix(f, "noc.hostname="); ok {
				if err := pid1.SetHostname(v); err != nil {
					logf("hostname: %v", err)
				}
			}
		}
	}
	loadModules(params)
	if out, err := exec.Command("/usr/bin/ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		logf("lo up: %v: %s", err, out)
	}
	superviseAgent()
}

// superviseAgent runs the agent as PID 1's only child and reaps every
// process the kernel re-parents to PID 1. The agent waits for its own
// children (the scripts), so there is no race between os/exec and a
// wait4(-1): daemons that scripts leave behind are orphans of PID 1 and are
// reaped the moment they exit (a `kill -0` loop in a script sees them go).
func superviseAgent() {
	for {
		cmd := exec.Command(InitPath)
		cmd.Args[0] = agentName
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			logf("agent: %v", err)
			hang()
		}
		agent := cmd.Process.Pid
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if pid == agent {
				logf("agent exited (%v); restarting it", ws)
				break
			}
		}
		time.Sleep(time.Second)
	}
}

// InitPath is nocinit's path in the image.
const InitPath = "/init"

func agentMain() {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	dev, err := findPort(20 * time.Second)
	if err != nil {
		logf("agent: %v", err)
		os.Exit(1)
	}
	logf("%s uptime=%.2f port=%s", proto.ReadyMarker, uptime(), dev)
	serve(dev)
}

func loadModules(params kmod.Params) {
	data, err := os.ReadFile(ModuleListPath)
	if err != nil {
		logf("modules: %v", err)
		return
	}
	names := kmod.ParseList(data)
	paths, err := kmod.DefaultPaths()
	if err != nil {
		logf("modules: %v", err)
		return
	}
	db, err := kmod.OpenDir(paths.Modules)
	if err != nil {
		logf("modules: %v", err)
		return
	}
	start := time.Now()
	res, err := kmod.NewLoader(db, paths.Sys, params).Load(context.Background(), names...)
	loaded := 0
	for _, r := range res {
		if r.Err == nil {
			loaded++
		}
	}
	logf("modules: %d of %d loaded in %.2fs", loaded, len(res), time.Since(start).Seconds())
	if err != nil {
		logf("modules: %v", err)
	}
}

// findPort waits for the agent's virtio-serial port and returns its device.
func findPort(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == proto.PortName {
				dev := "/dev/" + filepath.Base(filepath.Dir(n))
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %s after %v", proto.PortName, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve answers requests on the port forever. A read of 0 bytes means the
// host side is not connected: wait and read again.
func serve(dev string) {
	for {
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			logf("agent: open %s: %v", dev, err)
			time.Sleep(time.Second)
			continue
		}
		for {
			dec := json.NewDecoder(f)
			var req proto.Request
			if err := dec.Decode(&req); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					logf("agent: bad request: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			resp := handle(req)
			b, _ := json.Marshal(resp)
			b = append(b, '\n')
			if _, err := f.Write(b); err != nil {
				logf("agent: write response: %v", err)
			}
			if req.Op == proto.OpPowerOff && resp.Err == "" {
				logf("powering off")
				if err := pid1.Halt(pid1.PowerOff); err != nil {
					logf("power off: %v", err)
				}
			}
		}
	}
}

func handle(req proto.Request) proto.Response {
	start := time.Now()
	resp := proto.Response{ID: req.ID}
	var err error
	switch req.Op {
	case proto.OpPing, proto.OpPowerOff:
	case proto.OpRun:
		err = run(req, &resp)
	case proto.OpRead:
		resp.Data, err = os.ReadFile(req.Path)
	case proto.OpWrite:
		err = writeFile(req.Path, req.Data, os.FileMode(req.Mode))
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	if err != nil {
		resp.Err = err.Error()
	}
	resp.Uptime = uptime()
	resp.DurationMS = time.Since(start).Milliseconds()
	return resp
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// run runs the script with bash, its output in files (not pipes: daemons
// the script starts in the background would keep a pipe open forever).
func run(req proto.Request, resp *proto.Response) error {
	outf, err := os.CreateTemp(agentDir, "out")
	if err != nil {
		return err
	}
	errf, err := os.CreateTemp(agentDir, "err")
	if err != nil {
		outf.Close()
		return err
	}
	defer func() {
		outf.Close()
		errf.Close()
		os.Remove(outf.Name())
		os.Remove(errf.Name())
	}()
	ctx := context.Background()
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/bash", "-c", req.Script)
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.Env = append(append([]string{}, baseEnv...), req.Env...)
	cmd.Dir = "/root"
	cmd.Stdout, cmd.Stderr = outf, errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	runErr := cmd.Run()
	resp.TimedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			resp.Exit = 128 + int(ws.Signal())
		} else {
			resp.Exit = ee.ExitCode()
		}
	default:
		return runErr
	}
	resp.Stdout, _ = os.ReadFile(outf.Name())
	resp.Stderr, _ = os.ReadFile(errf.Name())
	return nil
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func hang() {
	for {
		time.Sleep(time.Hour)
	}
}

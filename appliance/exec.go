package appliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"keep/appliance/api"
)

// programDirs is where the image keeps the upstream tools it carries; the
// box has no PATH of its own.
var programDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// maxOutput bounds what a command may print before it is cut (per stream).
const maxOutput = 8 << 20

// commandResult is what an external program did.
type commandResult struct {
	ExitCode       int
	Stdout, Stderr []byte
	Took           time.Duration
}

// runCommand runs an upstream program (mkfs.xfs, xfs_repair, or in test
// images the oracles) to completion. Under PID 1 it goes through the
// reaper so the orphan reaper never steals its exit status. A program that
// exits non-zero is a result, not an error; errors are "could not run".
func (a *Appliance) runCommand(ctx context.Context, argv []string, env []string) (commandResult, error) {
	if len(argv) == 0 {
		return commandResult{}, errors.New("no program given")
	}
	prog, err := a.lookProgram(argv[0])
	if err != nil {
		return commandResult{}, err
	}
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.Env = append([]string{"PATH=" + strings.Join(programDirs, ":"), "LC_ALL=C"}, env...)
	stdout, stderr := &cappedBuffer{max: maxOutput}, &cappedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if a.reaper != nil {
		err = a.reaper.Run(cmd)
	} else {
		err = cmd.Run()
	}
	res := commandResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Took: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		res.ExitCode = exitErr.ExitCode()
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s: %w (after %v)", argv[0], ctx.Err(), res.Took.Round(time.Millisecond))
	default:
		return res, fmt.Errorf("%s: %w", argv[0], err)
	}
	return res, nil
}

// lookProgram finds a program by absolute path or in programDirs.
func (a *Appliance) lookProgram(name string) (string, error) {
	if filepath.IsAbs(name) {
		if st, err := os.Stat(name); err != nil || st.IsDir() {
			return "", fmt.Errorf("program %s is not in this image", name)
		}
		return name, nil
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("program %q: give a name or an absolute path", name)
	}
	for _, d := range programDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %s is not in this image (looked in %s)", name, strings.Join(programDirs, ", "))
}

// cappedBuffer keeps the first max bytes written and drops the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ api.TestExecutor = (*Appliance)(nil)

// TestAPI reports whether this is a QEMU test image (the image builder
// puts the marker only there): only then may the API run programs.
func (a *Appliance) TestAPI() bool {
	if a.opts.TestMarker == "" {
		return false
	}
	_, err := os.Stat(a.opts.TestMarker)
	return err == nil
}

// TestExec runs an oracle program for a QEMU scenario.
func (a *Appliance) TestExec(ctx context.Context, req api.ExecRequest) (api.ExecResult, error) {
	timeout := time.Duration(req.TimeoutSeconds) * time.Second
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a.log.Named("test").Info("test exec", "argv", strings.Join(req.Argv, " "))
	res, err := a.runCommand(ctx, req.Argv, nil)
	if err != nil {
		return api.ExecResult{}, err
	}
	return api.ExecResult{ExitCode: res.ExitCode, Stdout: string(res.Stdout), Stderr: string(res.Stderr)}, nil
}

// splitOptions splits a mount option string at commas.
func splitOptions(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func joinOptions(o []string) string { return strings.Join(o, ",") }

package noc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/qemu"
	"keep/qemu/noc/internal/proto"
)

// Defaults of Options.
const (
	DefaultMemoryMB    = 512
	DefaultBootTimeout = 3 * time.Minute
	// DefaultRunTimeout bounds MustRun's scripts.
	DefaultRunTimeout = 3 * time.Minute
	// AgentSocketName is the host end of the agent's virtio-serial port in
	// the VM's directory.
	AgentSocketName = "agent.sock"
)

// File is one file put into the guest before it boots.
type File struct {
	Path   string      // absolute path in the guest
	Data   []byte      // contents, unless Source is set
	Source string      // host file to copy instead of Data
	Mode   fs.FileMode // permission bits; 0 means 0644
}

// Options describe one NOC guest.
type Options struct {
	// Name labels the VM in logs and is its host name (default "noc").
	Name string
	// Dir is the VM's work directory (console.log, qemu.log, qmp.sock,
	// agent.sock, initrd.cpio); default a fresh t.TempDir(). Keep it short:
	// unix socket paths are limited to 107 bytes.
	Dir string
	// NICs are attached in order and appear as eth0, eth1, … in the guest.
	NICs []qemu.NIC
	// Files are added to the image before boot (an extra cpio archive
	// appended to the base image); they may replace image files.
	Files []File
	// Script is run with bash once the agent answers; Boot fails if it
	// exits non-zero.
	Script string
	// MemoryMB is the guest RAM (default 512); CPUs the vCPUs (default 1).
	MemoryMB, CPUs int
	// Append is added to the kernel command line.
	Append []string
	// Capture names NICs whose traffic QEMU records on the host, as seen on
	// the wire (both directions, pcap, Dir/<ID>.pcap; see CapturePath).
	// A capture inside the guest is no substitute for the wire: the kernel
	// hands decrypted inbound ESP payloads to AF_PACKET taps on the outer
	// interface, so tcpdump there shows plaintext that never crossed it.
	Capture []string
	// Kernel is the kernel to boot: default $KEEP_KERNEL, else
	// <root>/build/vmlinux (make image extracts it).
	Kernel string
	// Image selects the base image inputs.
	Image ImageSpec
	// BootTimeout bounds the wait for the agent (default 3 min).
	BootTimeout time.Duration
}

// VM is a running NOC guest.
type VM struct {
	Name string
	Dir  string
	// BootTime is the host's wall time from QEMU's exec to the agent's
	// first answer; GuestUptime the guest's /proc/uptime at that answer.
	BootTime    time.Duration
	GuestUptime time.Duration
	// Image is the base image booted.
	Image *Image

	q     *qemu.VM
	conn  net.Conn
	mu    sync.Mutex // one request at a time
	resps chan proto.Response
	rerr  chan error
	next  uint64
}

// Result is the outcome of a script run in the guest.
type Result struct {
	Stdout, Stderr string
	Exit           int
	TimedOut       bool
	// Duration is the script's run time measured in the guest.
	Duration time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d (timed out: %t, %v)\n--- stdout ---\n%s--- stderr ---\n%s", r.Exit, r.TimedOut, r.Duration, r.Stdout, r.Stderr)
}

// KernelPath returns the kernel Boot uses by default.
func KernelPath() (string, error) {
	if k := os.Getenv("KEEP_KERNEL"); k != "" {
		return k, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "build", "vmlinux"), nil
}

// Boot builds (or reuses) the image, boots a guest and waits for its agent,
// failing t on any error. Cleanup kills QEMU and, if t failed, logs the end
// of the console. Under testing.Short() the test is skipped; otherwise a
// missing QEMU or kernel fails it.
func Boot(t testing.TB, o Options) *VM {
	t.Helper()
	if testing.Short() {
		t.Skip("NOC guest tests boot QEMU; skipped with -short")
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.bootTimeout()+5*time.Minute)
	defer cancel()
	vm, err := Start(ctx, o)
	if vm != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: last console lines:\n%s", vm.Name, vm.q.Console().Tail(30))
			}
			vm.Close()
		})
	}
	if err != nil {
		t.Fatalf("boot %s: %v", o.name(), err)
	}
	t.Logf("%s: agent ready %.2fs after QEMU exec (guest uptime %.2fs)", vm.Name, vm.BootTime.Seconds(), vm.GuestUptime.Seconds())
	return vm
}

func (o Options) name() string {
	if o.Name == "" {
		return "noc"
	}
	return o.Name
}

func (o Options) bootTimeout() time.Duration {
	if o.BootTimeout == 0 {
		return DefaultBootTimeout
	}
	return o.BootTimeout
}

// Start is Boot without testing.TB: the caller must Close the VM, also
// when Start returns an error with a non-nil VM.
func Start(ctx context.Context, o Options) (*VM, error) {
	if o.Dir == "" {
		return nil, errors.New("Options.Dir is required")
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = DefaultMemoryMB
	}
	kernel := o.Kernel
	if kernel == "" {
		var err error
		if kernel, err = KernelPath(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(kernel); err != nil {
		return nil, fmt.Errorf("kernel: %w (run make image, or set KEEP_KERNEL)", err)
	}
	img, err := BuildImage(ctx, o.Image)
	if err != nil {
		return nil, fmt.Errorf("noc image: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeInitrd(initrd, img.Path, o.Files); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, AgentSocketName)
	_ = os.Remove(sock)
	m := qemu.Machine{
		Kernel:   kernel,
		Initrd:   initrd,
		Dir:      dir,
		MemoryMB: o.MemoryMB,
		CPUs:     o.CPUs,
		NICs:     o.NICs,
		Append:   append([]string{"quiet", "noc.hostname=" + o.name()}, o.Append...),
		Extra: []string{
			"-device", "virtio-serial-pci,id=vser0",
			"-chardev", "socket,id=agent,path=" + sock + ",server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name=" + proto.PortName,
		},
	}
	for _, id := range o.Capture {
		m.Extra = append(m.Extra, "-object", "filter-dump,id=dump-"+id+",netdev=net-"+id+",file="+filepath.Join(dir, id+".pcap"))
	}
	q, err := m.Start(ctx)
	if err != nil {
		return nil, err
	}
	vm := &VM{Name: o.name(), Dir: dir, Image: img, q: q}
	bctx, cancel := context.WithTimeout(ctx, o.bootTimeout())
	defer cancel()
	if _, err := q.Console().Expect(bctx, regexp.MustCompile(proto.ReadyMarker+` uptime=`)); err != nil {
		return vm, err
	}
	if err := vm.dial(bctx, sock); err != nil {
		return vm, err
	}
	resp, err := vm.call(bctx, proto.Request{Op: proto.OpPing})
	if err != nil {
		return vm, fmt.Errorf("agent: %w", err)
	}
	vm.BootTime = time.Since(q.StartTime())
	vm.GuestUptime = time.Duration(resp.Uptime * float64(time.Second))
	if o.Script != "" {
		r, err := vm.Run(bctx, o.Script)
		if err != nil {
			return vm, fmt.Errorf("boot script: %w", err)
		}
		if r.Exit != 0 {
			return vm, fmt.Errorf("boot script: %s", r)
		}
	}
	return vm, nil
}

// writeInitrd writes the base image followed by an archive of files.
func writeInitrd(out, base string, files []File) error {
	data, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		ov, err := overlay(files)
		if err != nil {
			return err
		}
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
		data = append(data, ov...)
	}
	return os.WriteFile(out, data, 0o644)
}

func (vm *VM) dial(ctx context.Context, sock string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			vm.conn = c
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent socket: %w", err)
		case <-vm.q.Exited():
			return errors.New("qemu exited before the agent socket answered")
		case <-time.After(50 * time.Millisecond):
		}
	}
	vm.resps = make(chan proto.Response, 16)
	vm.rerr = make(chan error, 1)
	go func() {
		dec := json.NewDecoder(vm.conn)
		for {
			var r proto.Response
			if err := dec.Decode(&r); err != nil {
				vm.rerr <- err
				close(vm.resps)
				return
			}
			vm.resps <- r
		}
	}()
	return nil
}

// call sends one request and waits for its response. Responses to earlier,
// abandoned requests are skipped.
func (vm *VM) call(ctx context.Context, req proto.Request) (proto.Response, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.conn == nil {
		return proto.Response{}, errors.New("agent not connected")
	}
	vm.next++
	req.ID = vm.next
	b, err := json.Marshal(req)
	if err != nil {
		return proto.Response{}, err
	}
	if _, err := vm.conn.Write(append(b, '\n')); err != nil {
		return proto.Response{}, fmt.Errorf("agent: send: %w", err)
	}
	for {
		select {
		case r, ok := <-vm.resps:
			if !ok {
				return proto.Response{}, fmt.Errorf("agent connection closed: %v", <-vm.rerr)
			}
			if r.ID != req.ID {
				continue
			}
			if r.Err != "" {
				return r, fmt.Errorf("agent %s: %s", req.Op, r.Err)
			}
			return r, nil
		case <-ctx.Done():
			return proto.Response{}, fmt.Errorf("agent %s: %w\n--- console ---\n%s", req.Op, ctx.Err(), vm.q.Console().Tail(20))
		case <-vm.q.Exited():
			return proto.Response{}, fmt.Errorf("agent %s: qemu exited\n--- console ---\n%s", req.Op, vm.q.Console().Tail(20))
		}
	}
}

// Run runs script with bash in the guest (as root, cwd /root, stdin
// /dev/null) and returns its output and exit status; env adds "K=V"
// variables. If ctx has a deadline the guest kills the script's process
// group a second before it. A non-zero exit is not an error.
func (vm *VM) Run(ctx context.Context, script string, env ...string) (Result, error) {
	req := proto.Request{Op: proto.OpRun, Script: script, Env: env}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(dl).Milliseconds()-1000, 1)
	}
	r, err := vm.call(ctx, req)
	if err != nil {
		return Result{}, err
	}
	return Result{Stdout: string(r.Stdout), Stderr: string(r.Stderr), Exit: r.Exit, TimedOut: r.TimedOut,
		Duration: time.Duration(r.DurationMS) * time.Millisecond}, nil
}

// MustRun runs script (bounded by DefaultRunTimeout) and returns its
// stdout; it fails t unless the script exits 0.
func (vm *VM) MustRun(t testing.TB, script string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultRunTimeout)
	defer cancel()
	r, err := vm.Run(ctx, script, env...)
	if err != nil {
		t.Fatalf("%s: run %q: %v", vm.Name, firstLine(script), err)
	}
	if r.Exit != 0 {
		t.Fatalf("%s: run %q: %s", vm.Name, firstLine(script), r)
	}
	return r.Stdout
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// ReadFile returns a guest file's contents.
func (vm *VM) ReadFile(ctx context.Context, path string) ([]byte, error) {
	r, err := vm.call(ctx, proto.Request{Op: proto.OpRead, Path: path})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// WriteFile writes a guest file (parents created); mode 0 means 0644.
func (vm *VM) WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	_, err := vm.call(ctx, proto.Request{Op: proto.OpWrite, Path: path, Data: data, Mode: uint32(mode.Perm())})
	return err
}

// Stop powers the guest off through the agent and waits for QEMU to exit
// (status 0); if that does not happen before ctx ends, QEMU is killed. The
// VM is closed either way.
func (vm *VM) Stop(ctx context.Context) error {
	defer vm.Close()
	if _, err := vm.call(ctx, proto.Request{Op: proto.OpPowerOff}); err != nil {
		return err
	}
	st, err := vm.q.Wait(ctx)
	if err != nil {
		return err
	}
	return st.Err()
}

// Close kills QEMU (if still running) and waits for it; safe to call twice.
func (vm *VM) Close() error {
	if vm.conn != nil {
		vm.conn.Close()
	}
	return vm.q.Close()
}

// QEMU returns the harness VM (console, QMP, ListenAddr, Wait).
func (vm *VM) QEMU() *qemu.VM { return vm.q }

// CapturePath returns the host file QEMU records NIC id's traffic into
// (Options.Capture).
func (vm *VM) CapturePath(id string) string { return filepath.Join(vm.Dir, id+".pcap") }

// Console returns the guest's serial console.
func (vm *VM) Console() *qemu.Console { return vm.q.Console() }

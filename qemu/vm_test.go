package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the real QEMU. They skip only under -short (the documented
// quick loop, `make test-short`); otherwise a machine without QEMU or the
// kernel fails them, because it cannot test the firmware and must say so.

const defaultTestKernel = "/boot/vmlinuz-6.1.0-56-amd64"

// hostDeps returns the QEMU binary and kernel to test with (env KEEP_QEMU,
// KEEP_KERNEL), failing the test when either is missing.
func hostDeps(t *testing.T) (qemuBin, kernel string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs QEMU: skipped under -short only; `make test` runs it")
	}
	qemuBin = envOr(os.Getenv("KEEP_QEMU"), DefaultQEMU)
	kernel = envOr(os.Getenv("KEEP_KERNEL"), defaultTestKernel)
	if _, err := exec.LookPath(qemuBin); err != nil {
		t.Fatalf("QEMU binary %q not found (%v): run `make deps` or set KEEP_QEMU", qemuBin, err)
	}
	if _, err := os.Stat(kernel); err != nil {
		t.Fatalf("kernel %s not found (%v): run `make deps` or set KEEP_KERNEL", kernel, err)
	}
	return qemuBin, kernel
}

func envOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// start starts m and registers its Close; it checks after Close that the
// process and its group are gone.
func start(t *testing.T, ctx context.Context, m Machine) *VM {
	t.Helper()
	vm, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertGone(t, vm.PID())
	})
	return vm
}

// assertGone fails unless the process and its process group no longer exist.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("qemu pid %d still exists (kill 0: %v)", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("qemu process group %d still exists (kill 0: %v)", pid, err)
	}
	for _, c := range childPIDs(t) {
		if c == pid {
			t.Errorf("qemu pid %d is still our child", pid)
		}
	}
}

// childPIDs lists the test process's children, zombies included.
func childPIDs(t *testing.T) []int {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, s := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(s); err == nil {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

// TestBootToKernelConsole boots the Debian kernel (no initrd) on the full
// appliance hardware, waits for its first console line, exercises the host
// side (port forward, QMP, blkdebug), quits via QMP and checks nothing is left.
func TestBootToKernelConsole(t *testing.T) {
	qemuBin, kernel := hostDeps(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const mib = 1 << 20
	m := Machine{
		QEMU:   qemuBin,
		Kernel: kernel,
		Dir:    t.TempDir(),
		Disks: []Disk{
			{ID: "v0", SizeBytes: 64 * mib, Hotpluggable: true},
			{ID: "n0", SizeBytes: 64 * mib, Kind: DiskNVMe, Serial: "NVME0001"},
			{ID: "s0", SizeBytes: 64 * mib, Kind: DiskSATA, Serial: "SATA0001", Model: "Keep Disk", FaultInjection: true},
		},
		NICs: []NIC{{ID: "lan", Forwards: []Forward{{GuestPort: 8080}}}},
		BMC:  BMC{Enabled: true},
	}
	vm := start(t, ctx, m)

	match, err := vm.Console().Expect(ctx, regexp.MustCompile(`Linux version (6\.1\S*)`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first kernel line (%s) %.2f s after exec", match[1], time.Since(vm.StartTime()).Seconds())

	if fi, err := os.Stat(filepath.Join(m.Dir, "v0.img")); err != nil || fi.Size() != 64*mib {
		t.Errorf("disk image: %v, %v", fi, err)
	}
	addr, err := vm.HostAddr("lan", 8080)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		t.Errorf("host forward %s is not listening: %v", addr, err)
	} else {
		conn.Close()
	}
	if st, err := vm.QMP().Status(ctx); err != nil || st != "running" {
		t.Errorf("query-status = %q, %v", st, err)
	}
	ret, err := vm.QMP().Execute(ctx, "qom-list", map[string]any{"path": "/machine/peripheral"})
	if err != nil {
		t.Fatal(err)
	}
	var props []struct{ Name, Type string }
	if err := json.Unmarshal(ret, &props); err != nil {
		t.Fatal(err)
	}
	devs := map[string]string{}
	for _, p := range props {
		devs[p.Name] = p.Type
	}
	for name, typ := range map[string]string{
		"disk-v0": "virtio-blk-pci", "rp-v0": "pcie-root-port", "disk-n0": "nvme",
		"disk-s0": "ide-hd", "nic-lan": "virtio-net-pci", "bmc0": "ipmi-bmc-sim",
	} {
		if devs[name] != "child<"+typ+">" {
			t.Errorf("device %s is %q, want %s", name, devs[name], typ)
		}
	}

	if err := vm.InjectDiskFault(ctx, "s0"); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.QMP().HumanMonitorCommand(ctx, `qemu-io -d disk-s0 "read 0 512"`); err != nil {
		t.Fatal(err)
	}

	if err := vm.QMP().Quit(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := vm.Wait(ctx)
	if err != nil || st.Err() != nil {
		t.Fatalf("Wait = %v, %v; want a clean exit", st, err)
	}
	ev, err := vm.QMP().WaitEvent(ctx, "SHUTDOWN")
	if err != nil || !strings.Contains(string(ev.Data), "host-qmp-quit") {
		t.Errorf("SHUTDOWN event = %+v, %v", ev, err)
	}
	log, err := os.ReadFile(m.QEMULog())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "read failed: Input/output error") {
		t.Errorf("read after fault injection did not fail; qemu.log:\n%s", log)
	}
	if err := vm.Close(); err != nil {
		t.Errorf("Close after exit: %v", err)
	}
	assertGone(t, vm.PID())
}

// TestStartFailureShowsQEMULog checks that QEMU refusing its command line is
// reported at once with QEMU's own message.
func TestStartFailureShowsQEMULog(t *testing.T) {
	qemuBin, kernel := hostDeps(t)
	before := len(childPIDs(t))
	m := Machine{QEMU: qemuBin, Kernel: kernel, Dir: t.TempDir(), Extra: []string{"-device", "no-such-device"}}
	_, err := m.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "'no-such-device' is not a valid device model name") {
		t.Fatalf("Start error = %v, want QEMU's complaint", err)
	}
	if after := len(childPIDs(t)); after > before {
		t.Errorf("children before %d, after a failed Start %d", before, after)
	}
}

// TestCloseKillsAndLinksConnect starts two paused VMs joined by a socket link
// and a unix stream link, and checks that Close kills a running QEMU.
func TestCloseKillsAndLinksConnect(t *testing.T) {
	qemuBin, kernel := hostDeps(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	l2 := filepath.Join(dir, "l2.sock")
	a := start(t, ctx, Machine{
		QEMU: qemuBin, Kernel: kernel, Dir: filepath.Join(dir, "a"), Extra: []string{"-S"},
		NICs: []NIC{
			{ID: "tcp", Kind: NICSocket, Listen: "127.0.0.1:0"},
			{ID: "unix", Kind: NICStream, Listen: l2},
		},
	})
	listen, err := a.ListenAddr("tcp")
	if err != nil || strings.HasSuffix(listen, ":0") {
		t.Fatalf("ListenAddr = %q, %v", listen, err)
	}
	b := start(t, ctx, Machine{
		QEMU: qemuBin, Kernel: kernel, Dir: filepath.Join(dir, "b"), Extra: []string{"-S"},
		NICs: []NIC{
			{ID: "tcp", Kind: NICSocket, Connect: listen},
			{ID: "unix", Kind: NICStream, Connect: l2},
		},
	})
	if a.Machine().NICs[0].MAC == b.Machine().NICs[0].MAC {
		t.Errorf("both VMs got MAC %s", a.Machine().NICs[0].MAC)
	}
	// set_link on both kinds of link proves the netdevs exist in the peer.
	for _, id := range []string{"tcp", "unix"} {
		if err := b.QMP().SetLink(ctx, NICDeviceID(id), false); err != nil {
			t.Errorf("set_link %s: %v", id, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := a.Wait(ctx)
	if err != nil || st.Signal != syscall.SIGKILL {
		t.Errorf("Wait after Close = %v, %v; want killed by SIGKILL", st, err)
	}
	assertGone(t, a.PID())
}

// TestQEMUDiesWithItsOwner kills a process that started a VM, without any
// cleanup, and checks that QEMU goes too (PR_SET_PDEATHSIG): a test binary that
// crashes or times out leaks no QEMU.
func TestQEMUDiesWithItsOwner(t *testing.T) {
	if dir := os.Getenv("KEEP_QEMU_OWNER_DIR"); dir != "" {
		runOwner(t, dir)
		return
	}
	hostDeps(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestQEMUDiesWithItsOwner$", "-test.v")
	cmd.Env = append(os.Environ(), "KEEP_QEMU_OWNER_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		fmt.Sscanf(sc.Text(), "qemu pid %d", &pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if pid == 0 {
		t.Fatal("the owner process did not report a QEMU pid")
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) // our grandchild: do not leak it
			t.Fatalf("qemu pid %d outlived its owner", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runOwner is the child side of TestQEMUDiesWithItsOwner: start a paused VM,
// report its pid, and wait to be killed.
func runOwner(t *testing.T, dir string) {
	qemuBin, kernel := hostDeps(t)
	vm, err := Machine{QEMU: qemuBin, Kernel: kernel, Dir: dir, Extra: []string{"-S"}}.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close() // only reached if the parent fails to kill us
	fmt.Printf("qemu pid %d\n", vm.PID())
	time.Sleep(30 * time.Second)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestStartReportsTakenPort checks that a fixed host port already in use
// fails Start with QEMU's message, and that the failure is recognised as a
// port conflict (which Start retries when it picked the port itself).
func TestStartReportsTakenPort(t *testing.T) {
	qemuBin, kernel := hostDeps(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	m := Machine{QEMU: qemuBin, Kernel: kernel, Dir: t.TempDir(), Extra: []string{"-S"},
		NICs: []NIC{{ID: "lan", Forwards: []Forward{{HostPort: port, GuestPort: 8080}}}}}
	_, err = m.Start(t.Context())
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "Could not set up host forwarding rule") {
		t.Fatalf("Start = %v, want a port conflict with QEMU's message", err)
	}
}

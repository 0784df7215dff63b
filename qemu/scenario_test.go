package qemu

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/appliance/service"
)

// The scenarios boot the real appliance image (KEEP_INITRD, built by `make
// image`) on the default virtual hardware and assert what an operator
// sees: the console, the API through the forwarded port, `keep ctl`.

const (
	bootTimeout = 90 * time.Second
	// dataDiskBytes is each data disk's size: RAID 6 over five gives
	// three disks of data, and mkfs.xfs wants at least 300 MB.
	dataDiskBytes = 128 << 20
	// readyRE is appliance.ReadyMarker's line; the seconds are the
	// kernel's uptime at ready.
	readyPattern = `keep: READY in ([0-9.]+)s`
)

// applianceDeps returns the kernel, image and keep binary to test with.
func applianceDeps(t testing.TB) (kernel, initrd, keep string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots the appliance in QEMU: skipped under -short only; `make test` runs it")
	}
	kernel = envOr(os.Getenv("KEEP_KERNEL"), defaultTestKernel)
	initrd = os.Getenv("KEEP_INITRD")
	keep = os.Getenv("KEEP_CTL")
	if initrd == "" || keep == "" {
		t.Fatalf("KEEP_INITRD and KEEP_CTL must name the image and the keep binary: run `make test` (it builds both), or `make image` and set them")
	}
	for _, f := range []string{kernel, initrd, keep} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run `make deps image`", err)
		}
	}
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		t.Fatalf("%s not found: run `make deps`", DefaultQEMU)
	}
	return kernel, initrd, keep
}

// bootAppliance starts the default appliance (6 data disks, BMC, one NIC
// with the API forwarded), with extra kernel command line arguments, and
// waits for the ready line (or, if wantReady is false, the not-ready line).
func bootAppliance(t testing.TB, wantReady bool, extraAppend ...string) (*VM, *api.Client, float64) {
	t.Helper()
	return bootWith(t, wantReady, nil, extraAppend...)
}

// bootWith is bootAppliance with a change to the default hardware.
func bootWith(t testing.TB, wantReady bool, change func(*ApplianceSpec), extraAppend ...string) (*VM, *api.Client, float64) {
	t.Helper()
	kernel, initrd, _ := applianceDeps(t)
	spec := ApplianceSpec{
		Kernel: kernel, Initrd: initrd, Dir: shortTempDir(t),
		Disks: 6, DiskBytes: dataDiskBytes, BMC: true, Append: extraAppend,
	}
	if change != nil {
		change(&spec)
	}
	return bootMachine(t, wantReady, Appliance(spec))
}

// bootMachine starts m and waits for the ready line (or, if wantReady is
// false, the not-ready line); the VM is closed when the test ends.
func bootMachine(t testing.TB, wantReady bool, m Machine) (*VM, *api.Client, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	vm, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	pattern := readyPattern
	if !wantReady {
		pattern = `keep: NOT READY after ([0-9.]+)s: (.*)`
	}
	match, err := vm.Console().Expect(ctx, regexp.MustCompile(pattern))
	if err != nil {
		t.Fatalf("waiting for %q: %v", pattern, err)
	}
	up, _ := strconv.ParseFloat(match[1], 64)
	addr, err := vm.HostAddr(APINIC, APIGuestPort)
	if err != nil {
		t.Fatal(err)
	}
	return vm, api.NewTCPClient(addr), up
}

// shortTempDir keeps QMP socket paths under the 107-byte limit.
func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "keep-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// ctl runs the real `keep ctl --addr ADDR args…` and returns its output
// and exit code.
func ctl(t *testing.T, vm *VM, args ...string) (string, int) {
	t.Helper()
	_, _, keep := applianceDeps(t)
	addr, err := vm.HostAddr(APINIC, APIGuestPort)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(keep, append([]string{"ctl", "--addr", addr}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("keep ctl %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func serviceByName(ss []service.ServiceStatus, name string) (service.ServiceStatus, bool) {
	for _, s := range ss {
		if s.Name == name {
			return s, true
		}
	}
	return service.ServiceStatus{}, false
}

// Scenario 1: boot to the ready line; `keep ctl status` from the host
// lists the services as running.
func TestScenarioBootToReady(t *testing.T) {
	t.Parallel()
	vm, c, up := bootAppliance(t, true)
	t.Logf("ready at kernel uptime %.2fs", up)

	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || st.Stage != "ready" || len(st.NotReady) != 0 {
		t.Fatalf("status: ready %v stage %q not ready %q", st.Ready, st.Stage, st.NotReady)
	}
	if st.Hostname != "keep" {
		t.Errorf("hostname %q: the image's config names the box keep", st.Hostname)
	}
	for _, name := range []string{"api", "network"} {
		s, ok := serviceByName(st.Services, name)
		if !ok || s.State != service.StateRunning || !s.Ready {
			t.Errorf("service %s: %+v (present %v)", name, s, ok)
		}
	}
	// Each core service checks itself once it is ready.
	deadline := time.Now().Add(15 * time.Second)
	for healthy := false; !healthy; {
		if st, err = c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		healthy = true
		for _, name := range []string{"api", "network"} {
			s, _ := serviceByName(st.Services, name)
			healthy = healthy && s.Health != nil && s.Health.OK
		}
		if !healthy && time.Now().After(deadline) {
			t.Fatalf("api and network not both healthy: %+v", st.Services)
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, code := ctl(t, vm, "status")
	if code != 0 {
		t.Errorf("keep ctl status exited %d:\n%s", code, out)
	}
	for _, re := range []string{`(?m)^ready:\s+yes$`, `(?m)^api\s+running\s+0\s+ok\b`, `(?m)^network\s+running\s+0\s+ok\b`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("keep ctl status does not match %s:\n%s", re, out)
		}
	}
	// The BMC's watchdog is armed and petted, on its running timeout
	// once the boot is over (the switch follows the ready line at once).
	for i := 0; ; i++ {
		b := st.BMC
		if b != nil && b.Present && b.WatchdogArmed && b.WatchdogTimeout == "1m0s" && !b.LastResetByWatchdog && !b.LastPet.IsZero() {
			break
		}
		if i == 20 {
			t.Errorf("bmc: %+v", st.BMC)
			break
		}
		time.Sleep(100 * time.Millisecond)
		if st, err = c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The network as configured, read back from the kernel.
	out, code = ctl(t, vm, "net")
	for _, re := range []string{`(?m)^eth0\s+device\s+up\s+1500\s+\S+\s+10\.0\.2\.15/24[\s,]`, `(?m)^default\s+10\.0\.2\.2\s+eth0\b`, `(?m)^lo\s+device\s+up\s+65536\s`} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("keep ctl net (exit %d) does not match %s:\n%s", code, re, out)
		}
	}
	// The boot's events are there, in order.
	evs, err := c.Events(context.Background(), api.EventQuery{Source: "boot"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); got != "boot.started,boot.ready" {
		t.Errorf("boot events = %s", got)
	}
	// The kernel asked for a module the boot list lacks (ipmi_si wants
	// acpi_ipmi once it finds the BMC) and keep, acting as /sbin/modprobe,
	// loaded it; its report reached the kernel log, which the API serves.
	out, code = ctl(t, vm, "logs", "kernel", "-n", "2000")
	if code != 0 || !strings.Contains(out, "keep-modprobe: -q -- acpi_ipmi: loaded") {
		t.Errorf("keep ctl logs kernel (exit %d) shows no on-demand load of acpi_ipmi:\n%s", code, lastLines(out, 20))
	}
	// The module loader ran and found the devices it was given.
	logs, err := c.Logs(context.Background(), "modules", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs.Lines) == 0 || !strings.Contains(logs.Lines[len(logs.Lines)-1].Message, "modules loaded") || logs.Lines[len(logs.Lines)-1].Fields["failed"] != "0" {
		t.Errorf("module log: %+v", logs.Lines)
	}
}

// Scenario 2: the ACPI power button (QMP system_powerdown) stops the
// services in reverse dependency order and the VM powers off by itself.
func TestScenarioPowerButton(t *testing.T) {
	t.Parallel()
	vm, _, _ := bootAppliance(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := vm.QMP().SystemPowerdown(ctx); err != nil {
		t.Fatal(err)
	}
	// network started after api, so it stops first.
	for _, line := range []string{
		`shutdown requested: by="power button"`,
		"watchdog disarmed for the orderly shutdown",
		"stopping network", "stopped network",
		"stopping api", "stopped api",
		"keep: power off now",
	} {
		if err := vm.Console().ExpectString(ctx, line); err != nil {
			t.Fatalf("console: %v", err)
		}
	}
	st, err := vm.Wait(ctx)
	if err != nil {
		t.Fatalf("the VM did not power off by itself: %v", err)
	}
	if st.Code != 0 {
		t.Fatalf("QEMU exit: %v", st)
	}
	ev, err := vm.QMP().WaitEvent(ctx, "SHUTDOWN")
	if err != nil {
		t.Fatal(err)
	}
	var data struct{ Reason string }
	if err := ev.Decode(&data); err != nil || data.Reason != "guest-shutdown" {
		t.Fatalf("SHUTDOWN reason %q (%v): want guest-shutdown, not a reset or panic", data.Reason, err)
	}
}

// Ctrl-Alt-Del reaches PID 1 as SIGINT (the kernel's CAD is turned off):
// an orderly power-off, and a second press while stopping is ignored
// rather than killing PID 1 (which would panic the kernel).
func TestScenarioCtrlAltDel(t *testing.T) {
	t.Parallel()
	vm, _, _ := bootAppliance(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cad := map[string]any{"keys": []map[string]string{
		{"type": "qcode", "data": "ctrl"}, {"type": "qcode", "data": "alt"}, {"type": "qcode", "data": "delete"},
	}}
	if _, err := vm.QMP().Execute(ctx, "send-key", cad); err != nil {
		t.Fatal(err)
	}
	if err := vm.Console().ExpectString(ctx, `shutdown requested: by="signal interrupt"`); err != nil {
		t.Fatalf("console: %v", err)
	}
	if _, err := vm.QMP().Execute(ctx, "send-key", cad); err != nil {
		t.Fatal(err)
	}
	if err := vm.Console().ExpectString(ctx, "keep: power off now"); err != nil {
		t.Fatalf("console: %v", err)
	}
	if _, err := vm.Wait(ctx); err != nil {
		t.Fatalf("the VM did not power off by itself: %v", err)
	}
	ev, err := vm.QMP().WaitEvent(ctx, "SHUTDOWN")
	if err != nil {
		t.Fatal(err)
	}
	var data struct{ Reason string }
	if err := ev.Decode(&data); err != nil || data.Reason != "guest-shutdown" {
		t.Fatalf("SHUTDOWN reason %q (%v): want guest-shutdown, not a panic", data.Reason, err)
	}
	if text, _ := vm.Console().Text(); strings.Contains(text, "Kernel panic") {
		t.Fatalf("kernel panic:\n%s", vm.Console().Tail(30))
	}
}

// DHCP on QEMU's user network (issue 5, scenario 2): the address is
// acquired and renewed, and the API answers on it.
func TestScenarioDHCP(t *testing.T) {
	t.Parallel()
	_, c, _ := bootAppliance(t, true, configArg("network: {ethernets: {eth0: {dhcp4: true}}}\ntesting: {dhcp_renew_every: 2s}\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var acquired, renewed []events.Event
	for len(renewed) == 0 {
		evs, err := c.Events(ctx, api.EventQuery{Source: "network"})
		if err != nil {
			t.Fatal(err)
		}
		acquired, renewed = nil, nil
		for _, e := range evs {
			switch e.Kind {
			case "network.lease_acquired":
				acquired = append(acquired, e)
			case "network.lease_renewed":
				renewed = append(renewed, e)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no renewal within a minute; network events: %+v", evs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(acquired) != 1 {
		t.Fatalf("acquired %d times: %+v", len(acquired), acquired)
	}
	for _, e := range append(acquired, renewed[0]) {
		if e.Fields["link"] != "eth0" || e.Fields["address"] != "10.0.2.15/24" || e.Fields["router"] != "10.0.2.2" || e.Fields["lease"] != "24h0m0s" {
			t.Errorf("%s: %v", e.Kind, e.Fields)
		}
	}
	n, err := c.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Leases) != 1 || n.Leases[0].Address != "10.0.2.15/24" || n.Leases[0].Renewals < 1 || fmt.Sprint(n.DNS) != "[10.0.2.3]" {
		t.Errorf("leases %+v, dns %v", n.Leases, n.DNS)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if net, _ := serviceByName(st.Services, "network"); !st.Ready || net.State != service.StateRunning {
		t.Errorf("ready %v, network %+v", st.Ready, net)
	}
}

// Link monitoring (issue 5): pulling the cable (QMP set_link off) is an
// event within a second, and so is plugging it back.
func TestScenarioLinkMonitor(t *testing.T) {
	t.Parallel()
	vm, c, _ := bootAppliance(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before, err := c.Events(ctx, api.EventQuery{Limit: 1})
	if err != nil || len(before) != 1 {
		t.Fatalf("events before: %v %v", before, err)
	}
	for _, step := range []struct {
		up   bool
		line string
	}{{false, "link eth0 lost carrier"}, {true, "link eth0 has carrier"}} {
		start := time.Now()
		if err := vm.QMP().SetLink(ctx, NICDeviceID(APINIC), step.up); err != nil {
			t.Fatal(err)
		}
		// The console is readable while the network is not.
		if err := vm.Console().ExpectString(ctx, step.line); err != nil {
			t.Fatal(err)
		}
		// The 1 s target is measured here and reported, not asserted
		// (timing under TCG on a shared CI core is noisy); the loose
		// bound catches a polling implementation.
		took := time.Since(start)
		t.Logf("%q on the console %v after set_link", step.line, took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("%q took %v: the monitor is not event-driven", step.line, took)
		}
	}
	evs, err := c.Events(ctx, api.EventQuery{Source: "network", Kind: "network.carrier_", After: before[0].Seq})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		if e.Fields["link"] == "eth0" {
			kinds = append(kinds, e.Kind+"/"+e.Severity.String())
		}
	}
	if got := strings.Join(kinds, ","); got != "network.carrier_lost/warning,network.carrier_up/notice" {
		t.Errorf("carrier events = %s", got)
	}
}

// A box that stops deserving keepalives (a hang, a wedged critical
// service; here test-only withhold_keepalive) is reset by the BMC.
func TestScenarioWatchdogResetsAHungBox(t *testing.T) {
	t.Parallel()
	vm, _, _ := bootAppliance(t, true, configArg("bmc: {watchdog_timeout: 10s}\ntesting: {withhold_keepalive: true}\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := vm.Console().ExpectString(ctx, "withholding the watchdog keepalive"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ev, err := vm.QMP().WaitEvent(ctx, "SHUTDOWN")
	if err != nil {
		t.Fatalf("the BMC did not reset the box: %v", err)
	}
	var data struct{ Reason string }
	if err := ev.Decode(&data); err != nil || data.Reason != "guest-reset" {
		t.Fatalf("SHUTDOWN reason %q (%v): want guest-reset by the watchdog", data.Reason, err)
	}
	t.Logf("reset %v after the keepalive was withheld (timeout 10 s)", time.Since(start).Round(100*time.Millisecond))
}

// A machine without a BMC says so and is ready all the same.
func TestScenarioNoBMC(t *testing.T) {
	t.Parallel()
	_, c, _ := bootWith(t, true, func(s *ApplianceSpec) { s.BMC = false })
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || st.BMC == nil || st.BMC.Present || st.BMC.WatchdogArmed {
		t.Fatalf("ready %v, bmc %+v", st.Ready, st.BMC)
	}
	evs, err := c.Events(context.Background(), api.EventQuery{Kind: "bmc."})
	if err != nil || len(evs) != 1 || evs[0].Kind != "bmc.absent" {
		t.Fatalf("bmc events %+v %v", evs, err)
	}
}

func configArg(yaml string) string {
	return "keep.config=b64:" + base64.StdEncoding.EncodeToString([]byte(yaml))
}

// Scenario 3: a service made to fail is restarted with backoff, then
// marked failed with an event, while the rest keeps running.
func TestScenarioFailingServiceIsContained(t *testing.T) {
	t.Parallel()
	vm, c, _ := bootAppliance(t, true, configArg("testing: {faulty_services: [{name: probe, fail_after: 300ms}]}"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The probe may give up before or after the ready line (the storage
	// stage decides how long the boot takes): search the whole console.
	for {
		text, _ := vm.Console().Text()
		if strings.Contains(text, "probe failed; giving up") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("console never said the probe gave up:\n%s", vm.Console().Tail(40))
		case <-time.After(200 * time.Millisecond):
		}
	}
	evs, err := c.Events(ctx, api.EventQuery{Source: "supervisor"})
	if err != nil {
		t.Fatal(err)
	}
	var backoffs []string
	failed := 0
	for _, e := range evs {
		if e.Fields["service"] != "probe" {
			continue
		}
		switch e.Kind {
		case service.KindRestarted:
			backoffs = append(backoffs, e.Fields["backoff"])
		case service.KindFailed:
			failed++
			if e.Severity.String() != "error" {
				t.Errorf("service.failed severity %s", e.Severity)
			}
		}
	}
	// Policy for faulty services: 200ms doubling, 4 consecutive failures.
	if got := strings.Join(backoffs, ","); got != "200ms,400ms,800ms" {
		t.Errorf("restart backoffs = %s, want 200ms,400ms,800ms", got)
	}
	if failed != 1 {
		t.Errorf("%d service.failed events for probe, want 1", failed)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	probe, _ := serviceByName(st.Services, "probe")
	if probe.State != service.StateFailed || probe.Restarts != 3 || !strings.Contains(probe.LastError, "injected fault") {
		t.Errorf("probe: %+v", probe)
	}
	for _, name := range []string{"api", "network"} {
		if s, _ := serviceByName(st.Services, name); s.State != service.StateRunning || s.Restarts != 0 {
			t.Errorf("%s was affected: %+v", name, s)
		}
	}
	if !st.Ready || fmt.Sprint(st.NotReady) != "[degraded: optional service probe failed: injected fault (testing.faulty_services)]" {
		t.Errorf("ready %v, not ready %q", st.Ready, st.NotReady)
	}
	out, _ := ctl(t, vm, "events", "--severity", "error")
	if !regexp.MustCompile(`(?m)\berror\s+supervisor\s+service\.failed\b.*service=probe`).MatchString(out) {
		t.Errorf("keep ctl events --severity error:\n%s", out)
	}
}

// Scenario 4: a broken config: the console names the bad field, the API
// stays reachable, and `keep ctl status` says why the box is not ready.
func TestScenarioBrokenConfig(t *testing.T) {
	t.Parallel()
	vm, c, _ := bootAppliance(t, false, configArg("appliance: {hostname: Not_A_Host}\n"))
	text, err := vm.Console().Text()
	if err != nil {
		t.Fatal(err)
	}
	const field = `appliance.hostname: "Not_A_Host" is not a host name`
	if !strings.Contains(text, field) {
		t.Errorf("console does not name the bad field (%s):\n%s", field, vm.Console().Tail(30))
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatalf("API unreachable with a broken config: %v", err)
	}
	if st.Ready || len(st.NotReady) == 0 || !strings.Contains(st.NotReady[0], field) {
		t.Errorf("status: ready %v, not ready %q", st.Ready, st.NotReady)
	}
	if st.Hostname != "keep" {
		t.Errorf("hostname %q: the box should run on the image's config", st.Hostname)
	}
	out, code := ctl(t, vm, "status")
	if code != 3 || !strings.Contains(out, "ready:     NO") || !strings.Contains(out, "why:") || !strings.Contains(out, field) {
		t.Errorf("keep ctl status exit %d:\n%s", code, out)
	}
}

// BenchmarkBootToReady boots the default appliance and reports the wall
// time from starting QEMU to the ready line, the kernel's uptime at ready,
// and the image size.
func BenchmarkBootToReady(b *testing.B) {
	_, initrd, _ := applianceDeps(b)
	fi, err := os.Stat(initrd)
	if err != nil {
		b.Fatal(err)
	}
	var wall, uptime float64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		vm, _, up := bootAppliance(b, true)
		wall += time.Since(start).Seconds()
		uptime += up
		vm.Close()
	}
	b.ReportMetric(wall/float64(b.N), "s-wall/boot")
	b.ReportMetric(uptime/float64(b.N), "s-uptime/boot")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-image")
}

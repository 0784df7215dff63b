package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/raid/vault"
)

// The storage scenarios boot the test image (KEEP_TEST_INITRD: the product
// image plus mdadm, smartctl and ipmitool, and the test exec API) so the
// oracles run inside the guest next to Keep's own view.

// testInitrd returns the test image; missing, the scenario fails.
func testInitrd(t testing.TB) string {
	t.Helper()
	applianceDeps(t)
	p := os.Getenv("KEEP_TEST_INITRD")
	if p == "" {
		t.Fatal("KEEP_TEST_INITRD must name the test image: run `make test` (make image builds build/keep-test.img)")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run `make image`", err)
	}
	return p
}

// storageMachine is the default appliance on the test image in dir.
func storageMachine(t testing.TB, dir string, change func(*ApplianceSpec)) Machine {
	kernel, _, _ := applianceDeps(t)
	spec := ApplianceSpec{Kernel: kernel, Initrd: testInitrd(t), Dir: dir, Disks: 6, DiskBytes: dataDiskBytes, BMC: true}
	if change != nil {
		change(&spec)
	}
	return Appliance(spec)
}

// oracle runs a tool in the guest and fails the test if it cannot run.
func oracle(t testing.TB, ctx context.Context, c *api.Client, argv ...string) api.ExecResult {
	t.Helper()
	res, err := c.TestExec(ctx, api.ExecRequest{Argv: argv, TimeoutSeconds: 120})
	if err != nil {
		t.Fatalf("guest %s: %v", strings.Join(argv, " "), err)
	}
	return res
}

// mustOracle is oracle that also wants exit code 0.
func mustOracle(t testing.TB, ctx context.Context, c *api.Client, argv ...string) string {
	t.Helper()
	res := oracle(t, ctx, c, argv...)
	if res.ExitCode != 0 {
		t.Fatalf("guest %s: exit %d\n%s%s", strings.Join(argv, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

// fields parses "Key : Value" lines (mdadm's output).
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, " : "); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// lastSeq is the newest event's sequence number.
func lastSeq(t testing.TB, ctx context.Context, c *api.Client) uint64 {
	t.Helper()
	evs, err := c.Events(ctx, api.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// waitEvent polls the API until an event of kind (exactly) appears after
// seq, and returns it with the host time it was first seen.
func waitEvent(t testing.TB, ctx context.Context, c *api.Client, kind string, after uint64) (events.Event, time.Time) {
	t.Helper()
	for {
		evs, err := c.Events(ctx, api.EventQuery{Kind: kind, After: after})
		if err == nil {
			for _, e := range evs {
				if e.Kind == kind {
					return e, time.Now()
				}
			}
		}
		select {
		case <-ctx.Done():
			all, _ := c.Events(context.Background(), api.EventQuery{Source: "storage", After: after})
			var got []string
			for _, e := range all {
				got = append(got, e.Kind+": "+e.Message)
			}
			t.Fatalf("no %s event after seq %d: %v; storage events since:\n%s", kind, after, ctx.Err(), strings.Join(got, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// storage reads the vault status.
func storage(t testing.TB, ctx context.Context, c *api.Client) vault.Status {
	t.Helper()
	st, err := c.Storage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitIdle waits until the array runs no sync and returns its status.
func waitIdle(t testing.TB, ctx context.Context, c *api.Client) vault.Status {
	t.Helper()
	for {
		st := storage(t, ctx, c)
		if st.Array != nil && st.Array.Running() && !st.Array.Syncing() {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("array still syncing: %+v", st.Array)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// powerOff shuts the appliance down through the API and waits for QEMU.
func powerOff(t testing.TB, ctx context.Context, vm *VM, c *api.Client) {
	t.Helper()
	if _, err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Wait(ctx); err != nil {
		t.Fatalf("no power-off: %v\n%s", err, vm.Console().Tail(30))
	}
}

// hostExamine runs the host's mdadm --examine on a disk image.
func hostExamine(t testing.TB, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("mdadm", "--examine", path).CombinedOutput()
	if err != nil {
		t.Fatalf("host mdadm --examine %s: %v\n%s", path, err, out)
	}
	return fields(string(out))
}

// TestScenarioStorageLifecycle is the vault's life on one set of disks:
// the first boot builds RAID 6 (5 + 1 spare) and XFS on blank disks; data
// is written; a member is pulled (QMP device_del) and the spare takes
// over; a blank disk pushed into an empty bay becomes the new spare; the
// next boot, with another member missing, assembles degraded and rebuilds
// onto that spare. mdadm (in the guest and on the host) checks our view
// throughout, and the data's checksum never changes.
func TestScenarioStorageLifecycle(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Boot 1: a first boot on six blank disks.
	m := storageMachine(t, dir, func(s *ApplianceSpec) { s.EmptySlots = 1 })
	vm, c, up := bootMachine(t, true, m)
	t.Logf("first boot ready in %.2fs (array created, XFS made)", up)
	st := storage(t, ctx, c)
	if st.State != vault.StateMounted || !st.Created || st.Filesystem == nil || !st.Filesystem.Made {
		t.Fatalf("first boot: %+v", st)
	}
	waitEvent(t, ctx, c, "resync.finished", 0)
	st = waitIdle(t, ctx, c)
	if st.Array.Level != "raid6" || st.Array.RaidDisks != 5 || st.Array.Degraded != 0 || len(st.Array.Members) != 6 {
		t.Fatalf("array after the initial sync: %+v", st.Array)
	}
	out, code := ctl(t, vm, "raid")
	// clean, or active while a write is in flight (the engine and the
	// journal write to the vault at any time): both are a healthy array.
	if healthy := regexp.MustCompile(`md127 raid6 (clean|active)\b`); code != 0 || !healthy.MatchString(out) || !strings.Contains(out, "mounted") {
		t.Errorf("keep ctl raid (exit %d):\n%s", code, out)
	}
	t.Logf("keep ctl raid:\n%s", out)

	// The oracle agrees with Keep's view of the running array.
	detail := fields(mustOracle(t, ctx, c, "mdadm", "--detail", "/dev/md127"))
	for k, want := range map[string]string{
		"Raid Level": "raid6", "Raid Devices": "5", "Active Devices": "5", "Spare Devices": "1",
		"Failed Devices": "0", "UUID": st.ArrayUUID, "Intent Bitmap": "Internal", "Version": "1.2",
	} {
		if got := detail[k]; got != want {
			t.Errorf("mdadm --detail %s = %q, want %q (Keep: %+v)", k, got, want, st.Array)
		}
	}
	if s := detail["State"]; s != "clean" && s != "active" {
		t.Errorf("mdadm --detail State = %q", s)
	}
	for _, d := range st.Disks {
		x := fields(mustOracle(t, ctx, c, "mdadm", "--examine", d.Path))
		role := "spare"
		if d.Slot >= 0 {
			role = fmt.Sprintf("Active device %d", d.Slot)
		}
		if !strings.HasSuffix(x["Checksum"], "correct") || x["Array UUID"] != st.ArrayUUID || x["Device Role"] != role {
			t.Errorf("mdadm --examine %s (%s): checksum %q uuid %q role %q; Keep says %s", d.Path, d.ID, x["Checksum"], x["Array UUID"], x["Device Role"], role)
		}
	}

	// Data, and its checksum.
	sum := strings.TrimSpace(mustOracle(t, ctx, c, "/init", "testdata", "write", "/vault/data.bin", "48"))

	// Pull member data1 out of its bay.
	seq := lastSeq(t, ctx, c)
	if err := vm.UnplugDisk(ctx, "data1"); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.QMP().WaitEvent(ctx, "DEVICE_DELETED"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	faulty, seen := waitEvent(t, ctx, c, "member.faulty", seq)
	latency := seen.Sub(deleted)
	t.Logf("member.faulty seen %v after QEMU's DEVICE_DELETED (target ≤ 2 s; includes the 100 ms API poll): %s", latency.Round(time.Millisecond), faulty.Message)
	if latency > 10*time.Second {
		t.Errorf("member failure took %v to become an event: not event-driven", latency)
	}
	if !strings.Contains(faulty.Fields["disk"], "KEEP-DATA-1") {
		t.Errorf("member.faulty names %q, want the disk's identity (KEEP-DATA-1)", faulty.Fields["disk"])
	}
	waitEvent(t, ctx, c, "array.degraded", seq)
	act, _ := waitEvent(t, ctx, c, "spare.activated", seq)
	if !strings.Contains(act.Fields["disk"], "KEEP-DATA-5") {
		t.Errorf("spare.activated names %q, want KEEP-DATA-5", act.Fields["disk"])
	}
	rs, _ := waitEvent(t, ctx, c, "rebuild.started", seq)
	rf, _ := waitEvent(t, ctx, c, "rebuild.finished", seq)
	t.Logf("rebuild onto the spare took %v (guest clock)", rf.Time.Sub(rs.Time).Round(time.Millisecond))
	waitEvent(t, ctx, c, "array.redundant", seq)
	st = waitIdle(t, ctx, c)
	if st.Array.Degraded != 0 || len(st.Array.Members) != 5 {
		t.Errorf("after the rebuild: %+v", st.Array)
	}
	if got := strings.TrimSpace(mustOracle(t, ctx, c, "/init", "testdata", "sum", "/vault/data.bin")); got != sum {
		t.Errorf("data changed across the failure and rebuild: %s, wrote %s", got, sum)
	}

	// A blank disk into the empty bay becomes the new spare.
	seq = lastSeq(t, ctx, c)
	if err := vm.PlugDisk(ctx, Disk{ID: "data6", SizeBytes: dataDiskBytes, Serial: "KEEP-DATA-6"}); err != nil {
		t.Fatal(err)
	}
	added, _ := waitEvent(t, ctx, c, "spare.added", seq)
	if !strings.Contains(added.Fields["disk"], "KEEP-DATA-6") {
		t.Errorf("spare.added names %q", added.Fields["disk"])
	}
	// The kernel's view, as the md watcher reports it.
	waitEvent(t, ctx, c, "member.added", seq)
	st = storage(t, ctx, c)
	spares := 0
	for _, mb := range st.Array.Members {
		if mb.Slot < 0 {
			spares++
		}
	}
	if spares != 1 {
		t.Errorf("after the hot-add: %d spares, want 1: %+v", spares, st.Array.Members)
	}
	detail = fields(mustOracle(t, ctx, c, "mdadm", "--detail", "/dev/md127"))
	if detail["Spare Devices"] != "1" || detail["Active Devices"] != "5" {
		t.Errorf("mdadm --detail after the hot-add: active %q spare %q", detail["Active Devices"], detail["Spare Devices"])
	}

	// An operator replaces a working member (a disk with a poor SMART
	// record, say): it is copied onto the spare while it still serves,
	// then failed out and removed.
	seq = lastSeq(t, ctx, c)
	if out, code := ctl(t, vm, "raid", "replace", "virtio-KEEP-DATA-0"); code != 0 {
		t.Fatalf("keep ctl raid replace: exit %d\n%s", code, out)
	}
	waitEvent(t, ctx, c, "member.replacing", seq)
	waitEvent(t, ctx, c, "rebuild.finished", seq)
	gone, _ := waitEvent(t, ctx, c, "member.removed", seq)
	if !strings.Contains(gone.Fields["disk"], "KEEP-DATA-0") {
		t.Errorf("member.removed names %q, want KEEP-DATA-0", gone.Fields["disk"])
	}
	st = waitIdle(t, ctx, c)
	// The kernel reuses names (data6 may be vdb again): go by identity.
	name := ""
	for _, d := range st.Disks {
		if d.Serial == "KEEP-DATA-6" {
			name = d.Name
		}
	}
	if m, ok := st.Array.Member(name); !ok || m.Slot != 0 || st.Array.Degraded != 0 {
		t.Errorf("after the replacement, data6 (%s) should hold slot 0: %+v", name, st.Array)
	}
	if got := strings.TrimSpace(mustOracle(t, ctx, c, "/init", "testdata", "sum", "/vault/data.bin")); got != sum {
		t.Errorf("data changed across the replacement: %s, wrote %s", got, sum)
	}
	powerOff(t, ctx, vm, c)

	// After an orderly stop every member is clean to the host's mdadm.
	for _, id := range []string{"data2", "data3", "data4", "data5", "data6"} {
		x := hostExamine(t, filepath.Join(dir, id+".img"))
		if x["State"] != "clean" || x["Array UUID"] != st.ArrayUUID {
			t.Errorf("host mdadm --examine %s: state %q uuid %q", id, x["State"], x["Array UUID"])
		}
	}

	// Boot 2 without member data2 (and without data1, pulled, or data0,
	// replaced; data0 is still in its bay and must be left out as
	// stale): degraded, says which slot; a blank disk pushed in becomes
	// the spare and the array rebuilds onto it; data intact; a scrub
	// finds no mismatches.
	var disks []Disk
	for _, id := range []string{"data0", "data3", "data4", "data5", "data6"} {
		disks = append(disks, Disk{ID: id, Serial: "KEEP-DATA-" + id[4:], Hotpluggable: true})
	}
	m2 := storageMachine(t, dir, func(s *ApplianceSpec) { s.EmptySlots = 1 })
	m2.Disks = disks
	vm2, c2, _ := bootMachine(t, true, m2)
	deg, _ := waitEvent(t, ctx, c2, "array.assembled_degraded", 0)
	t.Logf("second boot: %s", deg.Message)
	if ex, _ := waitEvent(t, ctx, c2, "array.member_excluded", 0); !strings.Contains(ex.Fields["disk"], "KEEP-DATA-0") {
		t.Errorf("member_excluded names %q, want the replaced KEEP-DATA-0", ex.Fields["disk"])
	}
	st = storage(t, ctx, c2)
	if st.Created || st.State != vault.StateMounted || (st.Filesystem != nil && st.Filesystem.Made) || st.Array.Degraded != 1 {
		t.Errorf("second boot must assemble degraded and mount, not create: %+v", st)
	}
	seq = lastSeq(t, ctx, c2)
	if err := vm2.PlugDisk(ctx, Disk{ID: "data7", SizeBytes: dataDiskBytes, Serial: "KEEP-DATA-7"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, c2, "spare.added", seq)
	waitEvent(t, ctx, c2, "rebuild.finished", seq)
	waitEvent(t, ctx, c2, "array.redundant", seq)
	st = waitIdle(t, ctx, c2)
	if st.Array.Degraded != 0 {
		t.Errorf("after the second rebuild: %+v", st.Array)
	}
	if got := strings.TrimSpace(mustOracle(t, ctx, c2, "/init", "testdata", "sum", "/vault/data.bin")); got != sum {
		t.Errorf("data changed across the degraded reboot: %s, wrote %s", got, sum)
	}
	seq = lastSeq(t, ctx, c2)
	if out, code := ctl(t, vm2, "raid", "scrub"); code != 0 {
		t.Fatalf("keep ctl raid scrub: exit %d\n%s", code, out)
	}
	waitEvent(t, ctx, c2, "scrub.started", seq)
	done, _ := waitEvent(t, ctx, c2, "scrub.finished", seq)
	if done.Fields["array"] != "md127" || storage(t, ctx, c2).Array.MismatchCnt != 0 {
		t.Errorf("scrub: %+v", done)
	}
	powerOff(t, ctx, vm2, c2)
}

// smartctlJSON is the part of `smartctl -a -j` the SMART scenario compares.
type smartctlJSON struct {
	SmartStatus struct {
		Passed bool `json:"passed"`
	} `json:"smart_status"`
	Temperature struct {
		Current int `json:"current"`
	} `json:"temperature"`
	PowerOnTime struct {
		Hours uint64 `json:"hours"`
	} `json:"power_on_time"`
	ATAAttributes struct {
		Table []struct {
			ID     int `json:"id"`
			Value  int `json:"value"`
			Worst  int `json:"worst"`
			Thresh int `json:"thresh"`
			Raw    struct {
				Value uint64 `json:"value"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	NVMeLog *struct {
		CriticalWarning int `json:"critical_warning"`
		PercentageUsed  int `json:"percentage_used"`
		AvailableSpare  int `json:"available_spare"`
		MediaErrors     int `json:"media_errors"`
	} `json:"nvme_smart_health_information_log"`
}

func smartctl(t *testing.T, ctx context.Context, c *api.Client, dev string) (smartctlJSON, int) {
	t.Helper()
	res := oracle(t, ctx, c, "smartctl", "-a", "-j", dev)
	var s smartctlJSON
	if err := json.Unmarshal([]byte(res.Stdout), &s); err != nil {
		t.Fatalf("smartctl -a -j %s: %v\n%s", dev, err, res.Stdout)
	}
	return s, res.ExitCode
}

func diskByTransport(t *testing.T, st vault.Status, tr string) vault.DiskStatus {
	t.Helper()
	for _, d := range st.Disks {
		if string(d.Transport) == tr {
			return d
		}
	}
	t.Fatalf("no %s disk in %+v", tr, st.Disks)
	return vault.DiskStatus{}
}

// TestScenarioDiskHealth: SMART as Keep reads it (SG_IO ATA PASS-THROUGH
// on AHCI, the NVMe admin ioctl) agrees with smartctl on both buses; an
// NVMe critical warning raised from the host (qom-set) is seen at the next
// health read (storage.smart_every, 10 s here) and the disk is reported
// failing, as smartctl says.
func TestScenarioDiskHealth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := storageMachine(t, shortTempDir(t), func(s *ApplianceSpec) {
		s.Append = append(s.Append, configArg("storage: {smart_every: 10s}"))
	})
	m.Disks[4].Kind, m.Disks[4].Serial = DiskNVMe, "NVME0001"
	m.Disks[5].Kind, m.Disks[5].Serial, m.Disks[5].Model, m.Disks[5].Hotpluggable = DiskSATA, "SATA0001", "KeepDisk", false
	vm, c, _ := bootMachine(t, true, m)
	st := storage(t, ctx, c)

	sata := diskByTransport(t, st, "sata")
	if sata.Health == nil || sata.Health.Report == nil {
		t.Fatalf("no SMART for the SATA disk: %+v", sata.Health)
	}
	sc, code := smartctl(t, ctx, c, sata.Path)
	if code != 0 {
		t.Errorf("smartctl exit %d on a healthy SATA disk", code)
	}
	if (sata.Health.Verdict == "passed") != sc.SmartStatus.Passed {
		t.Errorf("SATA verdict: Keep %q, smartctl passed=%v", sata.Health.Verdict, sc.SmartStatus.Passed)
	}
	if sata.Health.TemperatureC == nil || *sata.Health.TemperatureC != sc.Temperature.Current {
		t.Errorf("SATA temperature: Keep %v, smartctl %d", sata.Health.TemperatureC, sc.Temperature.Current)
	}
	ours := map[int]string{}
	for _, a := range sata.Health.Report.Attributes {
		ours[int(a.ID)] = fmt.Sprintf("value %d worst %d thresh %d raw %d", a.Value, a.Worst, a.Threshold, a.Raw)
	}
	if len(sc.ATAAttributes.Table) == 0 || len(ours) != len(sc.ATAAttributes.Table) {
		t.Errorf("attribute count: Keep %d, smartctl %d", len(ours), len(sc.ATAAttributes.Table))
	}
	for _, a := range sc.ATAAttributes.Table {
		want := fmt.Sprintf("value %d worst %d thresh %d raw %d", a.Value, a.Worst, a.Thresh, a.Raw.Value)
		if ours[a.ID] != want {
			t.Errorf("attribute %d: Keep %q, smartctl %q", a.ID, ours[a.ID], want)
		}
	}

	nvme := diskByTransport(t, st, "nvme")
	if nvme.Health == nil || nvme.Health.Report == nil || nvme.Health.Report.NVMe == nil {
		t.Fatalf("no SMART for the NVMe disk: %+v", nvme.Health)
	}
	sc, code = smartctl(t, ctx, c, "/dev/"+nvme.Controller)
	if code != 0 || !sc.SmartStatus.Passed || nvme.Health.Verdict != "passed" || sc.NVMeLog == nil {
		t.Fatalf("healthy NVMe: Keep %q, smartctl exit %d passed %v", nvme.Health.Verdict, code, sc.SmartStatus.Passed)
	}
	log := nvme.Health.Report.NVMe
	if int(log.PercentageUsed) != sc.NVMeLog.PercentageUsed || int(log.AvailableSpare) != sc.NVMeLog.AvailableSpare ||
		*nvme.Health.TemperatureC != sc.Temperature.Current {
		t.Errorf("NVMe log: Keep used %d spare %d temp %d; smartctl %+v temp %d",
			log.PercentageUsed, log.AvailableSpare, *nvme.Health.TemperatureC, *sc.NVMeLog, sc.Temperature.Current)
	}

	// The host raises the temperature critical warning (bit 1).
	seq := lastSeq(t, ctx, c)
	raised := time.Now()
	if err := vm.QMP().QomSet(ctx, "/machine/peripheral/"+DiskDeviceID("data4"), "smart_critical_warning", 2); err != nil {
		t.Fatal(err)
	}
	ev, seen := waitEvent(t, ctx, c, "disk.health", seq)
	t.Logf("disk.health %v after qom-set: %s", seen.Sub(raised).Round(time.Millisecond), ev.Message)
	if ev.Fields["verdict"] != "failing" || ev.Severity != events.Critical || !strings.Contains(ev.Fields["disk"], "NVME0001") {
		t.Errorf("health event: %+v", ev)
	}
	sc, code = smartctl(t, ctx, c, "/dev/"+nvme.Controller)
	if sc.SmartStatus.Passed || code&8 == 0 || sc.NVMeLog.CriticalWarning != 2 {
		t.Errorf("smartctl after the warning: passed %v exit %d critical_warning %d; want FAILED", sc.SmartStatus.Passed, code, sc.NVMeLog.CriticalWarning)
	}
	out, _ := ctl(t, vm, "disks")
	if !strings.Contains(out, "failing") {
		t.Errorf("keep ctl disks does not show the failing disk:\n%s", out)
	}
	t.Logf("keep ctl disks:\n%s", out)
}

// imageSums hashes the disk images (host side).
func imageSums(t *testing.T, dir string, ids ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		b, err := exec.Command("sha256sum", filepath.Join(dir, id+".img")).Output()
		if err != nil {
			t.Fatal(err)
		}
		out[id] = strings.Fields(string(b))[0]
	}
	return out
}

// TestScenarioStorageFailure: members fail by I/O error injection
// (blkdebug, any bus): the first is replaced by the spare; losing three
// slots of the RAID 6 fails the array, which Keep reports and unmounts.
// After a power cut the next boot refuses to start the array and writes
// nothing to any disk.
func TestScenarioStorageFailure(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	m := storageMachine(t, dir, func(s *ApplianceSpec) { s.FaultInjection = true })
	vm, c, _ := bootMachine(t, true, m)
	waitEvent(t, ctx, c, "resync.finished", 0)
	sum := strings.TrimSpace(mustOracle(t, ctx, c, "/init", "testdata", "write", "/vault/a.bin", "16"))

	// One member fails: the spare takes over, the data stays.
	seq := lastSeq(t, ctx, c)
	injected := time.Now()
	if err := vm.InjectDiskFault(ctx, "data0"); err != nil {
		t.Fatal(err)
	}
	oracle(t, ctx, c, "/init", "testdata", "write", "/vault/b.bin", "4") // I/O that meets the fault
	ev, seen := waitEvent(t, ctx, c, "member.faulty", seq)
	t.Logf("member.faulty %v after the injection (includes the write that met it): %s", seen.Sub(injected).Round(time.Millisecond), ev.Message)
	if !strings.Contains(ev.Fields["disk"], "KEEP-DATA-0") {
		t.Errorf("member.faulty names %q", ev.Fields["disk"])
	}
	waitEvent(t, ctx, c, "rebuild.finished", seq)
	if got := strings.TrimSpace(mustOracle(t, ctx, c, "/init", "testdata", "sum", "/vault/a.bin")); got != sum {
		t.Errorf("data changed across the member failure: %s, wrote %s", got, sum)
	}

	// Three more slots lost: RAID 6 survives two, not three.
	seq = lastSeq(t, ctx, c)
	for _, id := range []string{"data1", "data2", "data3"} {
		if err := vm.InjectDiskFault(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	oracle(t, ctx, c, "/init", "testdata", "write", "/vault/c.bin", "4") // fails, as it should
	failed, _ := waitEvent(t, ctx, c, "array.failed", seq)
	if failed.Severity != events.Critical {
		t.Errorf("array.failed severity %v", failed.Severity)
	}
	waitEvent(t, ctx, c, "filesystem.unmounted", seq)
	st := storage(t, ctx, c)
	if st.State != vault.StateFailed || st.Filesystem.Mounted {
		t.Errorf("after the failure: state %s, mounted %v", st.State, st.Filesystem.Mounted)
	}
	mounts := mustOracle(t, ctx, c, "/init", "testdata", "cat", "/proc/mounts")
	if strings.Contains(mounts, " /vault ") {
		t.Errorf("/vault is still mounted:\n%s", mounts)
	}
	if out, _ := ctl(t, vm, "raid"); !strings.Contains(out, "FAILED") {
		t.Errorf("keep ctl raid does not say FAILED:\n%s", out)
	}
	// Power cut: no orderly stop.
	if err := vm.QMP().Quit(ctx); err != nil {
		t.Fatal(err)
	}
	vm.Wait(ctx)

	// The next boot finds too few current members: refused, not ready,
	// and not one byte written to any disk.
	ids := []string{"data0", "data1", "data2", "data3", "data4", "data5"}
	before := imageSums(t, dir, ids...)
	m2 := storageMachine(t, dir, nil)
	vm2, c2, _ := bootMachine(t, false, m2)
	ref, _ := waitEvent(t, ctx, c2, "array.refused", 0)
	t.Logf("second boot: %s", ref.Message)
	if st := storage(t, ctx, c2); st.State != vault.StateRefused || (st.Filesystem != nil && st.Filesystem.Mounted) {
		t.Errorf("second boot: %+v", st)
	}
	status, err := c2.Status(ctx)
	if err != nil || status.Ready || !strings.Contains(strings.Join(status.NotReady, ";"), "cannot start") {
		t.Errorf("status must say why the box is not ready: %+v %v", status.NotReady, err)
	}
	powerOff(t, ctx, vm2, c2)
	if after := imageSums(t, dir, ids...); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused boot wrote to the disks:\nbefore %v\nafter  %v", before, after)
	}
}

// TestScenarioUncleanPowerOff: the power is cut during writes. The next
// boot resyncs through the write-intent bitmap (only the dirty regions,
// much faster than the first full sync), replays the XFS log, and the
// filesystem checks clean.
func TestScenarioUncleanPowerOff(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Bigger disks than elsewhere: the bitmap's chunk is 64 MiB (mdadm's
	// rule), so 512 MiB members give it 8 regions to tell apart.
	big := func(s *ApplianceSpec) { s.DiskBytes = 512 << 20 }
	vm, c, _ := bootMachine(t, true, storageMachine(t, dir, big))
	rs, _ := waitEvent(t, ctx, c, "resync.started", 0)
	rf, _ := waitEvent(t, ctx, c, "resync.finished", 0)
	full := rf.Time.Sub(rs.Time)
	// The yardstick for the post-crash resync below: a full one reads
	// every member whole.
	disk, read := memberReads(t, ctx, c)
	t.Logf("initial full resync: %v; the boot read %d MiB of member %s", full.Round(time.Millisecond), read>>20, disk)
	if read < 480<<20 {
		t.Fatalf("the initial full resync read %d MiB of a 512 MiB member: /proc/diskstats does not show a resync's reads", read>>20)
	}

	// The file the cut will meet being rewritten: small (16 MiB of a 2
	// GiB array), written whole first, so the rewrite below allocates
	// nothing and dirties only the regions holding it (and the log's).
	// Writing a big new file instead spread allocations over most
	// allocation groups and left 7 of 8 regions dirty at times.
	sum := mustOracle(t, ctx, c, "/init", "testdata", "write", "/vault/hot.bin", "16")
	t.Logf("wrote /vault/hot.bin: sha256 %s", strings.TrimSpace(sum))
	// md clears a region's bit only some seconds after its last write
	// (the bitmap daemon): wait until the sync's and the first boot's
	// writes (filesystem, engine store, journal, the file) have all been
	// cleared, so the bits the cut leaves are the rewrite's.
	for {
		x := fields(mustOracle(t, ctx, c, "mdadm", "--examine-bitmap", "/dev/vda"))
		if strings.HasSuffix(x["Bitmap"], " 0 dirty (0.0%)") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the bitmap never became clean after the sync: %q", x["Bitmap"])
		case <-time.After(time.Second):
		}
	}
	// The rewrite runs until the power is cut (its own limit is far
	// beyond this test's).
	go c.TestExec(context.Background(), api.ExecRequest{Argv: []string{"/init", "testdata", "rewrite", "/vault/hot.bin", "120"}, TimeoutSeconds: 150})
	// Cut while writes are in flight: before its first write md marks the
	// array active on the members' superblocks, then sets the regions'
	// bits in the bitmap; 200 ms after the last it marks it clean again
	// (safe_mode_delay). So watch a member from the host, through its
	// disk image, and cut once both are on it (a cut between the two left
	// an active superblock and a clean bitmap). Polling the guest instead,
	// mdadm --detail or even a sysfs read through the test API, took
	// minutes to answer beside the rewrite (one emulated CPU).
	member := filepath.Join(dir, "data0.img")
	for {
		x := hostExamine(t, member)
		bm, _, dirty := readBitmap(t, member)
		if x["State"] == "active" && dirty > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the array never went active during the rewrite: %s's superblock says %q, its bitmap %q", member, x["State"], bm)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := vm.QMP().Quit(ctx); err != nil {
		t.Fatal(err)
	}
	vm.Wait(ctx)
	// The cut was unclean: md had marked the array active (dirty), and
	// the bitmap says which regions were being written.
	if x := hostExamine(t, member); x["State"] != "active" {
		t.Fatalf("superblock state after the power cut is %q, not active: the writes were not in flight", x["State"])
	}
	bm := bitmapDirty(t, member)
	t.Logf("bitmap after the power cut: %s", bm)

	vm2, c2, _ := bootMachine(t, true, storageMachine(t, dir, big))
	st := storage(t, ctx, c2)
	if st.Created || st.State != vault.StateMounted || st.Filesystem.Made {
		t.Fatalf("the second boot must assemble and mount: %+v", st)
	}
	if st.Filesystem.CheckedAt == "" {
		t.Errorf("xfs_repair -n did not pass before the mount")
	}
	st = waitIdle(t, ctx, c2)
	evs, err := c2.Events(ctx, api.EventQuery{Source: "storage"})
	if err != nil {
		t.Fatal(err)
	}
	var bitmap time.Duration
	for _, e := range evs {
		if e.Kind == "resync.started" {
			for _, f := range evs {
				if f.Kind == "resync.finished" && f.Seq > e.Seq {
					bitmap = f.Time.Sub(e.Time)
					break
				}
			}
		}
	}
	// The resync covers the dirty regions only. Its time says little on a
	// shared machine (a resync has a fixed cost, and the post-crash boot
	// replays the log and opens the engine meanwhile), so count what it
	// read instead: a full resync reads every member whole, a bitmap one
	// only the dirty regions of each. Everything else this boot read
	// (superblocks, xfs_repair -n, the log, the engine's files) is far
	// less than half a region per member.
	var bits, dirty int
	fmt.Sscanf(bm, "%d bits (chunks), %d dirty", &bits, &dirty)
	if dirty >= bits-1 {
		t.Fatalf("%s: with at most one region clean the test cannot tell a bitmap resync from a full one", bm)
	}
	disk, read = memberReads(t, ctx, c2)
	share := float64(read) / float64(512<<20)
	t.Logf("resync after the power cut: %v (full initial sync %v; %s); the boot read %d MiB of member %s (%.0f%% of it)",
		bitmap.Round(time.Millisecond), full.Round(time.Millisecond), bm, read>>20, disk, 100*share)
	if limit := (float64(dirty) + 0.5) / float64(bits); share > limit {
		t.Errorf("the post-crash boot read %.0f%% of member %s; with %d of %d regions dirty a bitmap resync reads at most %.0f%%: the bitmap was not used",
			100*share, disk, dirty, bits, 100*limit)
	}
	powerOff(t, ctx, vm2, c2)
}

// memberReads reads the guest's /proc/diskstats and returns the virtio
// disk that has read the most bytes since boot, and how many.
func memberReads(t *testing.T, ctx context.Context, c *api.Client) (string, int64) {
	t.Helper()
	stats := mustOracle(t, ctx, c, "/init", "testdata", "cat", "/proc/diskstats")
	name, most := "", int64(-1)
	for _, l := range strings.Split(stats, "\n") {
		f := strings.Fields(l)
		// major minor name reads merged sectors-read …
		if len(f) < 6 || !regexp.MustCompile(`^vd[a-z]+$`).MatchString(f[2]) {
			continue
		}
		sectors, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			t.Fatalf("/proc/diskstats: %q: %v", l, err)
		}
		if sectors*512 > most {
			name, most = f[2], sectors*512
		}
	}
	if name == "" {
		t.Fatalf("no virtio disk in /proc/diskstats:\n%s", stats)
	}
	return name, most
}

// bitmapDirty returns mdadm's summary of the write-intent bitmap in a
// member's disk image ("8 bits (chunks), 2 dirty (25.0%)") and fails the
// test unless some but not all regions are dirty, as after a cut during
// writes.
func bitmapDirty(t *testing.T, img string) string {
	t.Helper()
	b, bits, dirty := readBitmap(t, img)
	if dirty == 0 || dirty >= bits {
		t.Fatalf("bitmap %q: want some but not all regions dirty after a cut during writes", b)
	}
	return b
}

// readBitmap reads the write-intent bitmap in a member's disk image (the
// VM's or after it) through mdadm -X: its summary, its bits and how many
// are dirty.
func readBitmap(t *testing.T, img string) (summary string, bits, dirty int) {
	t.Helper()
	// mdadm -X reads a regular file as a bitmap file: cut the internal
	// bitmap out (superblock at 4 KiB, bitmap 4 KiB after it, our plans).
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	area := make([]byte, 64<<10)
	if _, err := f.ReadAt(area, 8192); err != nil {
		t.Fatal(err)
	}
	// One scratch file a call, removed at once: the cut polls this.
	tmp, err := os.CreateTemp("", "keep-bitmap-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(area)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mdadm", "--examine-bitmap", tmp.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("mdadm -X: %v\n%s", err, out)
	}
	summary = fields(string(out))["Bitmap"]
	if _, err := fmt.Sscanf(summary, "%d bits (chunks), %d dirty", &bits, &dirty); err != nil {
		t.Fatalf("mdadm -X says bitmap %q: %v", summary, err)
	}
	return summary, bits, dirty
}

// TestScenarioMdadmInterop: an array mdadm created is assembled by Keep,
// and an array Keep ran and stopped is assembled by mdadm.
func TestScenarioMdadmInterop(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	// Keep is told the array is someone else's, so it leaves the disks
	// alone while mdadm works on them.
	handsOff := func(s *ApplianceSpec) {
		s.Append = append(s.Append, configArg("storage: {name: \"keep:other\", create: never}"))
	}
	devs := []string{"/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd", "/dev/vde", "/dev/vdf"}

	// Boot 1: mdadm creates RAID 6 (5 + 1 spare, internal bitmap).
	vm, c, _ := bootMachine(t, false, storageMachine(t, dir, handsOff))
	waitEvent(t, ctx, c, "array.missing", 0)
	mustOracle(t, ctx, c, append([]string{"mdadm", "--create", "/dev/md0", "--run", "--metadata=1.2", "--level=6",
		"--raid-devices=5", "--spare-devices=1", "--bitmap=internal", "--name=keep:data"}, devs...)...)
	uuid := fields(mustOracle(t, ctx, c, "mdadm", "--detail", "/dev/md0"))["UUID"]
	mustOracle(t, ctx, c, "mdadm", "--stop", "/dev/md0")
	powerOff(t, ctx, vm, c)

	// Boot 2: Keep assembles mdadm's array, makes XFS (the array's data
	// area is all zero) and mounts it.
	vm, c, _ = bootMachine(t, true, storageMachine(t, dir, nil))
	st := storage(t, ctx, c)
	if st.Created || st.ArrayUUID != uuid || st.State != vault.StateMounted || !st.Filesystem.Made {
		t.Fatalf("Keep on mdadm's array %s: %+v", uuid, st)
	}
	st = waitIdle(t, ctx, c)
	if st.Array.Level != "raid6" || st.Array.RaidDisks != 5 || len(st.Array.Members) != 6 || st.Array.Degraded != 0 {
		t.Errorf("array: %+v", st.Array)
	}
	powerOff(t, ctx, vm, c)

	// Boot 3: Keep hands off again; mdadm assembles what Keep stopped.
	vm, c, _ = bootMachine(t, false, storageMachine(t, dir, handsOff))
	mustOracle(t, ctx, c, append([]string{"mdadm", "--assemble", "/dev/md0"}, devs...)...)
	d := fields(mustOracle(t, ctx, c, "mdadm", "--detail", "/dev/md0"))
	if d["UUID"] != uuid || d["Active Devices"] != "5" || d["Spare Devices"] != "1" || (d["State"] != "clean" && d["State"] != "active") {
		t.Errorf("mdadm --detail after mdadm --assemble: %v", d)
	}
	// No resync: Keep stopped it clean.
	if strings.Contains(d["State"], "resyncing") {
		t.Errorf("mdadm had to resync an array Keep stopped in order: %q", d["State"])
	}
	powerOff(t, ctx, vm, c)
}

// TestScenarioTiers: the other array shapes are built and started from
// Go too, and mdadm agrees on what runs: small (RAID 5, 4 + 1 spare) and
// performance (RAID 10 near-2 over 8).
func TestScenarioTiers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tier, level, layout string
		disks, members      int
	}{
		{"small", "raid5", "left-symmetric", 5, 4},
		{"performance", "raid10", "near=2", 8, 8},
	} {
		t.Run(tc.tier, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			m := storageMachine(t, shortTempDir(t), func(s *ApplianceSpec) {
				s.Disks = tc.disks
				s.Append = append(s.Append, configArg("storage: {tier: "+tc.tier+"}"))
			})
			_, c, _ := bootMachine(t, true, m)
			st := waitIdle(t, ctx, c)
			if st.Array.Level != tc.level || st.Array.RaidDisks != tc.members || st.Array.Degraded != 0 || st.State != vault.StateMounted {
				t.Fatalf("%s: %+v", tc.tier, st)
			}
			d := fields(mustOracle(t, ctx, c, "mdadm", "--detail", "/dev/md127"))
			want := map[string]string{"Raid Level": tc.level, "Raid Devices": fmt.Sprint(tc.members), "Layout": tc.layout,
				"Active Devices": fmt.Sprint(tc.members), "Spare Devices": fmt.Sprint(tc.disks - tc.members), "UUID": st.ArrayUUID, "Intent Bitmap": "Internal"}
			for k, v := range want {
				if d[k] != v {
					t.Errorf("mdadm --detail %s = %q, want %q", k, d[k], v)
				}
			}
		})
	}
}

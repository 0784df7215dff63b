package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/ipmi"
)

// The identity the simulated BMC's FRU carries.
const (
	bmcBoardSerial   = "KEEP-BOARD-0042"
	bmcBoardPart     = "KB-100-A"
	bmcProductSerial = "KEEP-VAULT-0042"
	bmcProductName   = "Keep Local Vault"
)

// bmcFiles writes a FRU image and an SDR file for ipmi-bmc-sim with the
// ipmi package's own encoders: a board and product area, and three
// sensors (QEMU reads only compact sensors numbered below 20).
func bmcFiles(t testing.TB, dir string) (fru, sdr string) {
	t.Helper()
	img, err := ipmi.EncodeFRU(ipmi.FRU{
		Board: &ipmi.BoardInfo{Manufacturer: "Keep", Product: "Vault Board", Serial: bmcBoardSerial, PartNumber: bmcBoardPart,
			MfgDate: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)},
		Product: &ipmi.ProductInfo{Manufacturer: "Keep", Name: bmcProductName, PartNumber: "KV-6", Version: "1", Serial: bmcProductSerial},
	})
	if err != nil {
		t.Fatal(err)
	}
	sensors := []ipmi.SensorRecord{
		{Type: ipmi.SDRCompactSensor, OwnerID: 0x20, Number: 1, EntityID: 0x37, Init: 0x63, Capabilities: 0x68,
			SensorType: ipmi.SensorTemperature, EventType: ipmi.EventTypeThreshold, ReadingMask: 0x3f3f,
			Units: ipmi.Units{Base: 1}, Name: "Inlet Temp"},
		{Type: ipmi.SDRCompactSensor, OwnerID: 0x20, Number: 2, EntityID: 0x0a, Init: 0x63, Capabilities: 0x40,
			SensorType: ipmi.SensorPowerSupply, EventType: ipmi.EventTypeSensorSpecific, AssertMask: 0x0003, ReadingMask: 0x0003,
			Name: "PSU1 Status"},
		{Type: ipmi.SDRCompactSensor, OwnerID: 0x20, Number: 3, EntityID: 0x1d, Init: 0x63, Capabilities: 0x68,
			SensorType: ipmi.SensorFan, EventType: ipmi.EventTypeThreshold, ReadingMask: 0x3f3f,
			Units: ipmi.Units{Base: 18}, Name: "Fan 1"},
	}
	sdrs, err := ipmi.EncodeSDRFile(sensors)
	if err != nil {
		t.Fatal(err)
	}
	fru, sdr = filepath.Join(dir, "fru.bin"), filepath.Join(dir, "sdr.bin")
	if err := os.WriteFile(fru, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sdr, sdrs, 0o644); err != nil {
		t.Fatal(err)
	}
	return fru, sdr
}

// pipeFields splits an ipmitool "a | b | c" line.
func pipeFields(l string) []string {
	f := strings.Split(l, "|")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

// colonFields parses ipmitool's "Key : Value" and "Key: Value" lines.
func colonFields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// Scenario: boot with a FRU and SDRs; ipmitool in the guest agrees with
// Keep about the watchdog it armed, the SEL records it wrote, the sensors
// it decodes and the FRU identity; sensors are polled; an almost full SEL
// is archived to the journal and cleared.
func TestScenarioBMC(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	m := storageMachine(t, dir, nil)
	m.BMC.FRUFile, m.BMC.SDRFile = bmcFiles(t, dir)
	vm, c, up := bootMachine(t, true, m)
	t.Logf("ready in %.2fs", up)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// Identity: status, keep ctl bmc and ipmitool fru print agree.
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BMC == nil || !st.BMC.Present || st.BMC.BoardSerial != bmcBoardSerial || st.BMC.ProductSerial != bmcProductSerial ||
		st.BMC.BoardPart != bmcBoardPart || st.BMC.ProductName != bmcProductName {
		t.Errorf("status BMC identity %+v", st.BMC)
	}
	fru := colonFields(mustOracle(t, ctx, c, "ipmitool", "fru", "print", "0"))
	for k, want := range map[string]string{"Board Serial": bmcBoardSerial, "Board Part Number": bmcBoardPart,
		"Product Serial": bmcProductSerial, "Product Name": bmcProductName} {
		if fru[k] != want {
			t.Errorf("ipmitool fru print: %s = %q, want %q (what Keep reports)", k, fru[k], want)
		}
	}

	d, err := c.BMC(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, code := ctl(t, vm, "bmc")
	t.Logf("keep ctl bmc (exit %d):\n%s", code, out)
	for _, want := range []string{bmcBoardSerial, bmcProductSerial, "use SMS/OS, action hard reset, timeout 60s", "Inlet Temp", "C: boot completed", "no LAN channel", "last reset: not the watchdog"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("keep ctl bmc lacks %q", want)
		}
	}

	// Watchdog: what we set is what ipmitool reads.
	wd := colonFields(mustOracle(t, ctx, c, "ipmitool", "mc", "watchdog", "get"))
	t.Logf("ipmitool mc watchdog get: %v", wd)
	// QEMU's bmc-sim answers the "running" bit as the last Set's "don't
	// stop" bit, so both read "stopped" while the countdown runs: the
	// countdown is the proof it runs, the bit must only agree.
	if d.Watchdog == nil || d.Watchdog.Use != "SMS/OS" || d.Watchdog.Action != "hard reset" || d.Watchdog.TimeoutSeconds != 60 ||
		d.Watchdog.RemainingSeconds <= 0 || d.Watchdog.RemainingSeconds >= 60 {
		t.Errorf("Keep's watchdog %+v: want SMS/OS hard reset 60 s, counting down", d.Watchdog)
	}
	present, _ := strconv.ParseFloat(strings.TrimSuffix(wd["Present Countdown"], " sec"), 64)
	if !strings.HasPrefix(wd["Watchdog Timer Use"], "SMS/OS") || strings.Contains(wd["Watchdog Timer Is"], "Running") != d.Watchdog.Running ||
		!strings.HasPrefix(wd["Watchdog Timer Actions"]+wd["Watchdog Timer Action"], "Hard Reset") || wd["Initial Countdown"] != "60.0 sec" ||
		present <= 0 || present >= 60 {
		t.Errorf("ipmitool disagrees with the armed watchdog: %v", wd)
	}

	// SEL: the boot and watchdog-armed records we wrote, at the ids we
	// report, with the same text.
	elist := mustOracle(t, ctx, c, "ipmitool", "sel", "elist")
	t.Logf("ipmitool sel elist:\n%s", elist)
	tool := map[int][]string{}
	for _, l := range strings.Split(strings.TrimSpace(elist), "\n") {
		f := pipeFields(l)
		if len(f) < 6 {
			continue
		}
		id, err := strconv.ParseInt(f[0], 16, 32)
		if err != nil {
			t.Errorf("ipmitool sel elist line %q: %v", l, err)
			continue
		}
		tool[int(id)] = f
	}
	found := map[string]bool{}
	for _, e := range d.SEL {
		f, ok := tool[e.ID]
		if !ok {
			t.Errorf("SEL entry %#x (%s) unknown to ipmitool", e.ID, e.Text)
			continue
		}
		// ipmitool names the sensor type ("Watchdog2") and, for sensors
		// without an SDR, leaves the number out.
		name := strings.ReplaceAll(f[3], " ", "")
		if !strings.HasPrefix(strings.ToLower(name), strings.ToLower(strings.ReplaceAll(e.SensorType, " ", ""))) ||
			(strings.Contains(name, "#") && !strings.HasSuffix(name, fmt.Sprintf("#0x%02x", e.Sensor))) ||
			f[4] != e.Event || (f[5] == "Asserted") != e.Asserted {
			t.Errorf("SEL %#x: ipmitool %q, Keep %q #%d %q asserted=%v", e.ID, f, e.SensorType, e.Sensor, e.Event, e.Asserted)
		}
		found[e.SensorType+"/"+e.Event] = true
	}
	if len(d.SEL) != len(tool) || !found["OS Boot/C: boot completed"] || !found["Watchdog 2/State Asserted"] {
		t.Errorf("Keep's SEL %d entries %v, ipmitool %d", len(d.SEL), found, len(tool))
	}

	// Sensors: names, numbers and status as ipmitool reads them.
	sdr := mustOracle(t, ctx, c, "ipmitool", "sdr", "elist")
	t.Logf("ipmitool sdr elist:\n%s", sdr)
	if len(d.Sensors) != 3 {
		t.Fatalf("Keep reads %d sensors, want 3: %+v", len(d.Sensors), d.Sensors)
	}
	for _, s := range d.Sensors {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s.Name) + `\s*\|\s*([0-9a-f]{2})h\s*\|\s*(\w+)`)
		mm := re.FindStringSubmatch(sdr)
		if mm == nil {
			t.Errorf("ipmitool sdr elist has no sensor %q", s.Name)
			continue
		}
		if n, _ := strconv.ParseInt(mm[1], 16, 32); int(n) != s.Number {
			t.Errorf("sensor %s: ipmitool number %s, Keep %d", s.Name, mm[1], s.Number)
		}
		// ipmitool says ok for any valid reading below the thresholds,
		// discrete sensors included.
		keep := map[string]string{"ok": "ok", "discrete": "ok", "na": "ns"}[s.Status]
		if keep == "" {
			keep = s.Level
		}
		if keep != mm[2] || keep != "ok" {
			t.Errorf("sensor %s: ipmitool status %q, Keep %q/%q", s.Name, mm[2], s.Status, s.Level)
		}
	}

	// Polling: the BMC's reading changes (Set Sensor Reading from the
	// guest); Keep's next poll has it.
	mustOracle(t, ctx, c, "ipmitool", "raw", "0x04", "0x30", "0x01", "0x01", "0x2a")
	changed := time.Now()
	for {
		d, err = c.BMC(ctx, 1)
		if err == nil && len(d.Sensors) > 0 && d.Sensors[0].Raw == 0x2a {
			break
		}
		if ctx.Err() != nil || time.Since(changed) > 70*time.Second {
			t.Fatalf("Keep's sensors never showed the new raw reading 0x2a: %+v %v", d.Sensors, err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("new reading seen after %v (poll every 30 s)", time.Since(changed).Round(time.Second))

	// SEL almost full: entries added from the guest until fewer than an
	// eighth of the 128 are free; Keep archives them all, then clears.
	seq := lastSeq(t, ctx, c)
	before := d.SELTotal
	add := 128 - 15 - before
	start := time.Now()
	for i := 0; i < add; i++ {
		// System Event #7, offset 5 "Timestamp Clock Sync".
		mustOracle(t, ctx, c, "ipmitool", "raw", "0x0a", "0x44", "0", "0", "0x02", "0", "0", "0", "0", "0x41", "0", "0x04", "0x12", "0x07", "0x6f", "0x05", "0xff", "0xff")
	}
	info := colonFields(mustOracle(t, ctx, c, "ipmitool", "sel", "info"))
	t.Logf("added %d SEL entries in %v; ipmitool sel info: entries %s, free %s", add, time.Since(start).Round(time.Second), info["Entries"], info["Free Space"])
	cleared, _ := waitEvent(t, ctx, c, "bmc.sel_cleared", seq)
	t.Logf("%s", cleared.Message)
	archived, err := c.Events(ctx, api.EventQuery{Kind: "bmc.sel_archived", After: seq})
	if err != nil {
		t.Fatal(err)
	}
	if len(archived) != before+add {
		t.Errorf("%d entries archived, want %d", len(archived), before+add)
	}
	boot := false
	for _, e := range archived {
		boot = boot || strings.Contains(e.Message, "C: boot completed")
	}
	if !boot {
		t.Errorf("the boot record was not archived")
	}
	if n := colonFields(mustOracle(t, ctx, c, "ipmitool", "sel", "info"))["Entries"]; n != "0" {
		t.Errorf("ipmitool sel info: %s entries after the clear, want 0", n)
	}
}

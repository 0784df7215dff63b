package appliance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/config"
	"keep/appliance/events"
	"keep/ipmi"
)

// fakeBMC is an in-memory BMC: a SEL of 16 records, sensors whose
// readings the test sets, and optionally a LAN channel.
type fakeBMC struct {
	mu       sync.Mutex
	sel      []ipmi.SELRecord
	capacity int
	nextID   uint16
	records  []ipmi.SensorRecord
	readings map[byte]ipmi.Reading
	lanCh    byte // 0: no LAN channel
	lanSet   []ipmi.LANConfig
	clearErr error
	wd       ipmi.WatchdogState
}

func (f *fakeBMC) Close() error { return nil }
func (f *fakeBMC) GetDeviceID(ctx context.Context) (ipmi.DeviceID, error) {
	return ipmi.DeviceID{IPMIVersion: 0x02}, nil
}
func (f *fakeBMC) ReadFRU(ctx context.Context, id byte) (ipmi.FRU, []byte, error) {
	return ipmi.FRU{Board: &ipmi.BoardInfo{Serial: "B-1"}, Product: &ipmi.ProductInfo{Serial: "P-1", Name: "Vault"}}, nil, nil
}
func (f *fakeBMC) GetWatchdog(ctx context.Context) (ipmi.WatchdogState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wd, nil
}
func (f *fakeBMC) SetWatchdog(ctx context.Context, w ipmi.WatchdogConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wd = ipmi.WatchdogState{Use: w.Use, Action: w.Action, Timeout: w.Timeout}
	return nil
}
func (f *fakeBMC) ResetWatchdog(ctx context.Context) error  { return nil }
func (f *fakeBMC) DisarmWatchdog(ctx context.Context) error { return nil }
func (f *fakeBMC) add(ev ipmi.SystemEvent) (uint16, error) {
	if len(f.sel) >= f.capacity {
		return 0, ipmi.ErrOutOfSpace
	}
	rec := ipmi.SELRecord{ID: f.nextID, Type: ipmi.SELTypeSystemEvent, Event: &ev}
	b, err := rec.MarshalBinary()
	if err != nil {
		return 0, err
	}
	rec, _ = ipmi.DecodeSELRecord(b)
	f.sel = append(f.sel, rec)
	f.nextID++
	return rec.ID, nil
}
func (f *fakeBMC) LogEvent(ctx context.Context, ev ipmi.SystemEvent) (uint16, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev.GeneratorID, ev.EvMRev = ipmi.GeneratorSystemSoftware, ipmi.EvMRevIPMI2
	return f.add(ev)
}
func (f *fakeBMC) SELEntries(ctx context.Context) ([]ipmi.SELRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ipmi.SELRecord(nil), f.sel...), nil
}
func (f *fakeBMC) GetSELInfo(ctx context.Context) (ipmi.SELInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ipmi.SELInfo{Version: 0x51, Entries: uint16(len(f.sel)), FreeBytes: uint16((f.capacity - len(f.sel)) * 16)}, nil
}
func (f *fakeBMC) ClearSEL(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clearErr != nil {
		return f.clearErr
	}
	f.sel, f.nextID = nil, 0
	return nil
}
func (f *fakeBMC) SDRRepository(ctx context.Context) ([]ipmi.SDR, error) {
	var out []ipmi.SDR
	for i := range f.records {
		out = append(out, ipmi.SDR{RecordID: uint16(i), Type: f.records[i].Type, Sensor: &f.records[i]})
	}
	return out, nil
}
func (f *fakeBMC) ReadSensor(ctx context.Context, s ipmi.SensorRecord) (ipmi.SensorValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rd, ok := f.readings[s.Number]
	if !ok {
		return ipmi.SensorValue{}, fmt.Errorf("sensor %d: %w", s.Number, ipmi.ErrNotPresent)
	}
	return s.Evaluate(rd), nil
}
func (f *fakeBMC) FindLANChannel(ctx context.Context) (byte, error) {
	if f.lanCh == 0 {
		return 0, fmt.Errorf("find LAN channel: %w: %w", ipmi.ErrNoLANChannel, ipmi.ErrInvalidCommand)
	}
	return f.lanCh, nil
}
func (f *fakeBMC) GetLANConfig(ctx context.Context, ch byte) (ipmi.LANConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lanSet) == 0 {
		return ipmi.LANConfig{Source: ipmi.IPSourceDHCP, Address: netip.MustParseAddr("0.0.0.0"), Netmask: netip.MustParseAddr("0.0.0.0"), Gateway: netip.MustParseAddr("0.0.0.0")}, nil
	}
	return f.lanSet[len(f.lanSet)-1], nil
}
func (f *fakeBMC) SetLANConfig(ctx context.Context, ch byte, cfg ipmi.LANConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lanSet = append(f.lanSet, cfg)
	return nil
}

func (f *fakeBMC) setReading(n byte, raw byte, states uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readings[n] = ipmi.Reading{Raw: raw, ScanningEnabled: true, States: states}
}

type recorded struct {
	sev       events.Severity
	kind, msg string
	fields    map[string]string
}

type eventLog struct {
	mu  sync.Mutex
	evs []recorded
}

func (l *eventLog) emit(sev events.Severity, kind, msg string, fields map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, recorded{sev, kind, msg, fields})
}

func (l *eventLog) kinds(prefix string) []recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recorded
	for _, e := range l.evs {
		if strings.HasPrefix(e.kind, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// A full sensor: raw x is x degrees (M=1); unc 70, ucr 80.
var tempSensor = ipmi.SensorRecord{Type: ipmi.SDRFullSensor, OwnerID: 0x20, Number: 4, SensorType: ipmi.SensorTemperature,
	EventType: ipmi.EventTypeThreshold, ReadingMask: 0x1818, Units: ipmi.Units{Base: 1}, Factors: ipmi.Factors{M: 1}, Name: "CPU Temp"}

func newTestBMC(f *fakeBMC, cfg config.BMC) (*bmcService, *eventLog) {
	l := &eventLog{}
	s := &bmcService{timeout: time.Minute, petEvery: time.Hour, healthy: func() error { return nil },
		log: hclog.NewNullLogger(), emit: l.emit, cfg: cfg,
		open: func(string) (bmcDevice, error) { return f, nil }}
	return s, l
}

// run starts the service and returns a stop function that waits for it.
func run(t *testing.T, s *bmcService) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, func() { close(readyc) }) }()
	select {
	case <-readyc:
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	return func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestBMCBootRecordsAndIdentity(t *testing.T) {
	f := &fakeBMC{capacity: 128, readings: map[byte]ipmi.Reading{}}
	f.add(ipmi.SystemEvent{SensorType: ipmi.SensorPowerSupply, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{1, 0xff, 0xff}})
	s, l := newTestBMC(f, config.BMC{SensorEvery: config.Duration(time.Hour)})
	stop := run(t, s)
	d := s.detail(context.Background(), 0)
	if d.BMC.BoardSerial != "B-1" || d.BMC.ProductSerial != "P-1" || d.FRU == nil || d.FRU.ProductName != "Vault" {
		t.Errorf("identity %+v %+v", d.BMC, d.FRU)
	}
	if d.LastReset != "not the watchdog" || d.Watchdog == nil || d.Watchdog.Action != "hard reset" || d.Watchdog.TimeoutSeconds != 60 {
		t.Errorf("watchdog %q %+v", d.LastReset, d.Watchdog)
	}
	if d.LANProblem != "no LAN channel" || d.LAN != nil {
		t.Errorf("LAN %+v %q", d.LAN, d.LANProblem)
	}
	var texts []string
	for _, e := range d.SEL {
		texts = append(texts, e.SensorType+": "+e.Event)
	}
	want := "Power Supply: Failure detected,OS Boot: C: boot completed,Watchdog 2: State Asserted"
	if got := strings.Join(texts, ","); got != want {
		t.Errorf("SEL %s, want %s", got, want)
	}
	if got := l.kinds("bmc.sel_read"); len(got) != 1 || !strings.Contains(got[0].msg, "1 entries") {
		t.Errorf("sel_read events %+v", got)
	}
	// Our own records are not reported back as new entries.
	s.pollSEL(context.Background(), f)
	if got := l.kinds("bmc.sel_entry"); len(got) != 0 {
		t.Errorf("own records came back as events: %+v", got)
	}
	stop()
	if last := f.sel[len(f.sel)-1]; last.Event.SensorType != ipmi.SensorOSStop || last.Event.Offset() != 3 {
		t.Errorf("last SEL record %v, want the orderly shutdown", last)
	}
	if l.kinds("bmc.lan_failed") != nil {
		t.Errorf("no bmc.lan configured, yet %+v", l.kinds("bmc.lan_failed"))
	}
}

func TestBMCSensorThresholdCrossings(t *testing.T) {
	f := &fakeBMC{capacity: 128, readings: map[byte]ipmi.Reading{}, records: []ipmi.SensorRecord{tempSensor}}
	f.setReading(4, 40, 0)
	s, l := newTestBMC(f, config.BMC{SensorEvery: config.Duration(time.Hour)})
	stop := run(t, s)
	defer stop()
	ctx := context.Background()
	if got := l.kinds("bmc.sensor_"); len(got) != 0 {
		t.Fatalf("events for a sensor that is ok: %+v", got)
	}
	steps := []struct {
		raw    byte
		states uint16
		want   string // kind/severity, "" for no event
	}{
		{72, 1 << 3, "bmc.sensor_warning/warning"},
		{73, 1 << 3, ""},
		{85, 1<<3 | 1<<4, "bmc.sensor_critical/critical"},
		{75, 1 << 3, "bmc.sensor_warning/notice"},
		{40, 0, "bmc.sensor_ok/notice"},
		{90, 1<<3 | 1<<4, "bmc.sensor_critical/critical"},
	}
	for i, st := range steps {
		n := len(l.kinds("bmc.sensor_"))
		f.setReading(4, st.raw, st.states)
		s.pollSensors(ctx, f)
		got := l.kinds("bmc.sensor_")[n:]
		switch {
		case st.want == "" && len(got) != 0:
			t.Errorf("step %d: unexpected %+v", i, got)
		case st.want != "" && (len(got) != 1 || got[0].kind+"/"+got[0].sev.String() != st.want):
			t.Errorf("step %d: events %+v, want %s", i, got, st.want)
		}
	}
	last := l.kinds("bmc.sensor_critical")
	if m := last[len(last)-1].msg; m != "sensor CPU Temp (Temperature) entered critical: 90 degrees C (ucr)" {
		t.Errorf("message %q", m)
	}
	d := s.detail(ctx, 0)
	if len(d.Sensors) != 1 || d.Sensors[0].Value == nil || *d.Sensors[0].Value != 90 || d.Sensors[0].Level != "critical" {
		t.Errorf("readings %+v", d.Sensors)
	}
	// An unreadable sensor is na, not a level change.
	f.mu.Lock()
	delete(f.readings, 4)
	f.mu.Unlock()
	n := len(l.evs)
	s.pollSensors(ctx, f)
	if d := s.detail(ctx, 0); d.Sensors[0].Level != "na" || d.Sensors[0].Error == "" || len(l.evs) != n {
		t.Errorf("unreadable sensor: %+v, %d new events", d.Sensors, len(l.evs)-n)
	}
}

func TestBMCNewSELEntriesAndAlmostFull(t *testing.T) {
	f := &fakeBMC{capacity: 32, readings: map[byte]ipmi.Reading{}}
	s, l := newTestBMC(f, config.BMC{SensorEvery: config.Duration(time.Hour)})
	stop := run(t, s)
	defer stop()
	ctx := context.Background()

	// An entry from the BMC itself becomes an event.
	f.mu.Lock()
	f.add(ipmi.SystemEvent{GeneratorID: ipmi.GeneratorBMC, SensorType: ipmi.SensorTemperature, EventType: ipmi.EventTypeThreshold, Data: [3]byte{0x09, 0, 0}})
	f.mu.Unlock()
	s.pollSEL(ctx, f)
	got := l.kinds("bmc.sel_entry")
	if len(got) != 1 || got[0].sev != events.Warning || !strings.Contains(got[0].msg, "Upper Critical going high") {
		t.Fatalf("sel_entry events %+v", got)
	}
	s.pollSEL(ctx, f)
	if len(l.kinds("bmc.sel_entry")) != 1 {
		t.Fatal("an old entry was reported twice")
	}

	// The storage hook writes through to the SEL.
	if err := s.LogToSEL(ctx, SELRAIDDegraded, 1, "array degraded"); err != nil {
		t.Fatal(err)
	}
	if e := f.sel[len(f.sel)-1].Event; e.SensorType != ipmi.SensorDriveSlot || e.Description() != "In Critical Array" || e.Sensor != 1 {
		t.Errorf("RAID degraded record %v", e)
	}
	if err := s.LogToSEL(ctx, selRecordBoot, 0, "boot"); err == nil {
		t.Error("LogToSEL wrote a record that is not the storage code's")
	}

	// Fill to 29 of 32 (fewer than 4 free): archived, then cleared.
	f.mu.Lock()
	for len(f.sel) < 29 {
		f.add(ipmi.SystemEvent{GeneratorID: ipmi.GeneratorBMC, SensorType: ipmi.SensorSystemEvent, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{5, 0xff, 0xff}})
	}
	f.mu.Unlock()
	s.pollSEL(ctx, f)
	if a := l.kinds("bmc.sel_archived"); len(a) != 29 || !strings.Contains(a[0].msg, "C: boot completed") {
		t.Errorf("%d archived, first %+v", len(a), a)
	}
	if c := l.kinds("bmc.sel_cleared"); len(c) != 1 || !strings.Contains(c[0].msg, "archived 29 entries") || len(f.sel) != 0 {
		t.Errorf("cleared events %+v, SEL has %d", c, len(f.sel))
	}
	// Entries after the clear reuse ids 0, 1, …: still new.
	f.mu.Lock()
	f.add(ipmi.SystemEvent{GeneratorID: ipmi.GeneratorBMC, SensorType: ipmi.SensorPowerSupply, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{1, 0xff, 0xff}})
	f.mu.Unlock()
	n := len(l.kinds("bmc.sel_entry"))
	s.pollSEL(ctx, f)
	if got := l.kinds("bmc.sel_entry")[n:]; len(got) != 1 || !strings.Contains(got[0].msg, "Failure detected") {
		t.Errorf("entry after the clear: %+v", got)
	}

	// A clear that fails is said, and the entries stay.
	f.mu.Lock()
	for len(f.sel) < 30 {
		f.add(ipmi.SystemEvent{GeneratorID: ipmi.GeneratorBMC, SensorType: ipmi.SensorSystemEvent, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{5, 0xff, 0xff}})
	}
	f.clearErr = errors.New("erase refused")
	f.mu.Unlock()
	s.pollSEL(ctx, f)
	if e := l.kinds("bmc.sel_full"); len(e) != 1 || e[0].sev != events.Error || !strings.Contains(e[0].msg, "erase refused") || len(f.sel) != 30 {
		t.Errorf("failed clear: %+v, SEL %d", e, len(f.sel))
	}
}

func TestBMCLANConfig(t *testing.T) {
	lan := &config.BMCLAN{Source: "static", Address: "192.168.0.120", Netmask: "255.255.255.0", Gateway: "192.168.0.1"}
	// No LAN channel: said in an event, the box carries on.
	f := &fakeBMC{capacity: 128, readings: map[byte]ipmi.Reading{}}
	s, l := newTestBMC(f, config.BMC{SensorEvery: config.Duration(time.Hour), LAN: lan})
	stop := run(t, s)
	stop()
	if e := l.kinds("bmc.lan_failed"); len(e) != 1 || !strings.Contains(e[0].msg, "no LAN channel") {
		t.Errorf("no LAN channel: %+v", e)
	}
	// A LAN channel: set, then read back.
	f = &fakeBMC{capacity: 128, readings: map[byte]ipmi.Reading{}, lanCh: 1}
	s, l = newTestBMC(f, config.BMC{SensorEvery: config.Duration(time.Hour), LAN: lan})
	stop = run(t, s)
	defer stop()
	d := s.detail(context.Background(), 0)
	if len(f.lanSet) != 1 || f.lanSet[0].Source != ipmi.IPSourceStatic || f.lanSet[0].Address.String() != "192.168.0.120" {
		t.Errorf("set %+v", f.lanSet)
	}
	if d.LAN == nil || d.LAN.Channel != 1 || d.LAN.Address != "192.168.0.120" || d.LAN.Gateway != "192.168.0.1" || d.LANProblem != "" {
		t.Errorf("LAN %+v %q", d.LAN, d.LANProblem)
	}
	if e := l.kinds("bmc.lan_configured"); len(e) != 1 {
		t.Errorf("lan_configured events %+v", e)
	}
}

func TestBMCAbsent(t *testing.T) {
	l := &eventLog{}
	s := &bmcService{log: hclog.NewNullLogger(), emit: l.emit,
		open: func(string) (bmcDevice, error) { return nil, fmt.Errorf("open: %w", ipmi.ErrNoBMC) }}
	stop := run(t, s)
	stop()
	if d := s.detail(context.Background(), 0); d.BMC.Present || d.Watchdog != nil {
		t.Errorf("detail %+v", d)
	}
	if err := s.LogToSEL(context.Background(), SELDiskFailing, 2, "disk failing"); !errors.Is(err, errNoBMC) {
		t.Errorf("LogToSEL without a BMC: %v", err)
	}
}

// The watchdog runs on the boot timeout until the boot is over, then on
// the running timeout; during the boot a box that does not deserve a
// keepalive is not reported (the boot timeout covers it).
func TestBMCBootTimeoutThenRunningTimeout(t *testing.T) {
	f := &fakeBMC{capacity: 16}
	s, l := newTestBMC(f, config.BMC{})
	s.timeout, s.bootTimeout, s.petEvery = 10*time.Second, 10*time.Minute, 5*time.Millisecond
	var booted atomic.Bool
	s.booted = booted.Load
	s.healthy = func() error { return errors.New("storage not ready") }
	stop := run(t, s)
	defer stop()
	timeout := func() time.Duration {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.wd.Timeout
	}
	if got := timeout(); got != 10*time.Minute {
		t.Fatalf("armed with %v, want the boot timeout", got)
	}
	time.Sleep(50 * time.Millisecond) // many ticks while booting
	if len(l.kinds("bmc.keepalive_withheld")) != 0 || timeout() != 10*time.Minute {
		t.Fatalf("during the boot: timeout %v, withheld events %v", timeout(), l.kinds("bmc.keepalive_withheld"))
	}
	booted.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for timeout() != 10*time.Second || len(l.kinds("bmc.keepalive_withheld")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the boot: timeout %v, withheld events %v", timeout(), l.kinds("bmc.keepalive_withheld"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

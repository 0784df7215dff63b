package ipmi

import (
	"errors"
	"math"
	"testing"
)

// qemuWatchdogSDR is init_sdrs[] of QEMU's hw/ipmi/ipmi_bmc_sim.c: the
// one compact record the simulated BMC serves without an sdrfile.
var qemuWatchdogSDR = []byte{
	0x00, 0x00, 0x51, 0x02, 35, 0x20, 0x00, 0x00,
	0x23, 0x01, 0x63, 0x00, 0x23, 0x6f, 0x0f, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc8,
	'W', 'a', 't', 'c', 'h', 'd', 'o', 'g',
}

// fullVoltageSDR is a full record laid out by hand from IPMI 2.0 table
// 43-1: "12V" sensor 0x30, unsigned, M=69 (0x045), B=0, K2=-3, so raw
// 0xAE reads 69*174/1000 = 12.006 V; thresholds lcr 0x9C, ucr 0xC1.
var fullVoltageSDR = []byte{
	0x05, 0x00, 0x51, 0x01, 46, // header: id 5, v1.5, full, 46 more bytes
	0x20, 0x00, 0x30, // owner BMC, lun 0, sensor 0x30
	0x07, 0x01, 0x7f, 0x68, 0x02, 0x01, // entity 7.1, init, caps, Voltage, threshold
	0x95, 0x7a, 0x95, 0x7a, 0x3f, 0x3f, // masks: readable 0x3f, settable 0x3f
	0x00, 0x04, 0x00, // units: unsigned, Volts
	0x00,       // linear
	0x45, 0x00, // M = 69, tolerance 0
	0x00, 0x00, 0x00, // B = 0, accuracy 0
	0xd0,                               // K2 = -3, K1 = 0
	0x07, 0xae, 0xc1, 0x9c, 0xff, 0x00, // analog flags, nominal, nmax, nmin, smax, smin
	0xc8, 0xc1, 0xbd, 0x94, 0x9c, 0xa0, // unr ucr unc lnr lcr lnc
	0x02, 0x02, 0x00, 0x00, 0x00, // hysteresis +/-, reserved, OEM
	0xc3, '1', '2', 'V',
}

func TestDecodeQEMUWatchdogSDR(t *testing.T) {
	r, err := DecodeSDR(append(qemuWatchdogSDR, 0xee, 0xee)) // trailing bytes ignored
	if err != nil {
		t.Fatal(err)
	}
	s := r.Sensor
	if r.Type != SDRCompactSensor || s == nil || s.Name != "Watchdog" || s.Number != 0 || s.OwnerID != 0x20 ||
		s.SensorType != SensorWatchdog2 || s.EventType != EventTypeSensorSpecific || s.AssertMask != 0x010f ||
		s.EntityID != 0x23 || s.EntityInstance != 1 || s.Init != 0x63 || s.Analog() || s.Readable() != 0 {
		t.Fatalf("decoded %+v", s)
	}
	if _, err := s.Convert(0); !errors.Is(err, ErrNotAnalog) {
		t.Errorf("Convert on compact: %v", err)
	}
	b, err := s.MarshalBinary()
	if err != nil || hexs(b) != hexs(qemuWatchdogSDR) {
		t.Errorf("re-encode = % x, %v\nwant % x", b, err, qemuWatchdogSDR)
	}
}

func TestDecodeFullSDR(t *testing.T) {
	r, err := DecodeSDR(fullVoltageSDR)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Sensor
	if s.Name != "12V" || s.Number != 0x30 || s.RecordID != 5 || s.SensorType != SensorVoltage || !s.EventType.Threshold() ||
		s.Units.Base != UnitVolts || s.Units.String() != "Volts" || s.Factors.M != 69 || s.Factors.B != 0 ||
		s.Factors.K2 != -3 || s.Factors.K1 != 0 || s.Readable() != 0x3f || s.Settable() != 0x3f ||
		s.Thresholds[UpperCritical] != 0xc1 || s.Thresholds[LowerCritical] != 0x9c || s.Nominal != 0xae {
		t.Fatalf("decoded %+v", s)
	}
	v, err := s.Convert(0xae)
	if err != nil || math.Abs(v-12.006) > 1e-9 {
		t.Errorf("Convert(0xae) = %v, %v; want 12.006", v, err)
	}
	ucr, _ := s.Convert(s.Thresholds[UpperCritical])
	if math.Abs(ucr-13.317) > 1e-9 {
		t.Errorf("ucr = %v, want 13.317", ucr)
	}
	b, err := s.MarshalBinary()
	if err != nil || hexs(b) != hexs(fullVoltageSDR) {
		t.Errorf("re-encode = % x, %v\nwant % x", b, err, fullVoltageSDR)
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		f    Factors
		raw  byte
		want float64
	}{
		{"unsigned identity", Factors{M: 1}, 0x28, 40},
		{"twos complement B K1 K2", Factors{M: 2, B: -50, K1: 1, K2: -1, Format: AnalogTwosComplement}, 0xf0, -53.2},
		{"ones complement", Factors{M: 1, Format: AnalogOnesComplement}, 0xfe, -1},
		{"ones complement positive", Factors{M: 1, Format: AnalogOnesComplement}, 0x05, 5},
		{"fan rpm M 75", Factors{M: 75}, 0x50, 6000},
		{"negative M", Factors{M: -512, K2: -2}, 1, -5.12},
		{"max B", Factors{M: 1, B: 511, K1: 7}, 0, 5.11e9},
		{"sqr", Factors{M: 1, Linearization: LinearSqr}, 3, 9},
		{"inverse", Factors{M: 4, Linearization: LinearInverse}, 2, 0.125},
		{"exp10", Factors{M: 1, Linearization: LinearExp10}, 2, 100},
	}
	for _, tt := range tests {
		got, err := tt.f.Convert(tt.raw)
		if err != nil || math.Abs(got-tt.want) > 1e-6*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("%s: Convert(%#x) = %v, %v; want %v", tt.name, tt.raw, got, err, tt.want)
		}
	}
	if _, err := (Factors{M: 1, Linearization: 0x70}).Convert(1); !errors.Is(err, ErrNotAnalog) {
		t.Errorf("OEM linearization: %v", err)
	}
}

func TestSign(t *testing.T) {
	for _, tt := range []struct {
		lo, hi byte
		want   int16
	}{{0x45, 0x00, 69}, {0xff, 0xc0, -1}, {0x00, 0x80, -512}, {0xff, 0x40, 511}, {0x00, 0x3f, 0}} {
		if got := sign10(tt.lo, tt.hi); got != tt.want {
			t.Errorf("sign10(%#x, %#x) = %d, want %d", tt.lo, tt.hi, got, tt.want)
		}
	}
	for in, want := range map[byte]int8{0x0: 0, 0x7: 7, 0x8: -8, 0xf: -1, 0xd: -3} {
		if got := sign4(in); got != want {
			t.Errorf("sign4(%#x) = %d, want %d", in, got, want)
		}
	}
}

func TestSDRRoundTrip(t *testing.T) {
	recs := []SensorRecord{
		{Type: SDRFullSensor, OwnerID: 0x20, Number: 1, EntityID: 3, EntityInstance: 1, SensorType: SensorTemperature,
			EventType: EventTypeThreshold, ReadingMask: 0x3f3f, Units: Units{Base: UnitCelsius},
			Factors:    Factors{M: -300, B: 400, K1: -8, K2: 7, Format: AnalogTwosComplement, Tolerance: 33, Accuracy: 1000, AccuracyExp: 3, Linearization: LinearLinear},
			Thresholds: [6]byte{1, 2, 3, 4, 5, 6}, Name: "CPU Temp"},
		{Type: SDRCompactSensor, OwnerID: 0x20, Channel: 2, OwnerLUN: 1, Number: 7, SensorType: SensorDriveSlot,
			EventType: EventTypeSensorSpecific, AssertMask: 0x1ff, Name: "Drive 7 Slot Bay"},
		{Type: SDRFullSensor, Number: 2, SensorType: SensorFan, EventType: EventTypeThreshold, Units: Units{Base: UnitRPM, Rate: 4, ModifierOp: 1, Modifier: UnitWatts, Percentage: true},
			Factors: Factors{M: 75}, Name: ""},
	}
	file, err := EncodeSDRFile(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSDRs(file)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("DecodeSDRs = %d records, %v", len(got), err)
	}
	for i, r := range got {
		want := recs[i]
		want.Version = sdrVersion
		if r.Type == SDRCompactSensor {
			want.Factors.Format = AnalogNone
		}
		if r.Sensor == nil || !equalSensor(*r.Sensor, want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, r.Sensor, want)
		}
	}
	for _, bad := range []SensorRecord{
		{Type: SDRFullSensor, Factors: Factors{M: 512}},
		{Type: SDRFullSensor, Factors: Factors{B: -513}},
		{Type: SDRFullSensor, Factors: Factors{K1: 8}},
		{Type: SDRCompactSensor, Name: "seventeen chars!!"},
		{Type: 0x03},
		{Type: SDRCompactSensor, EventType: 0x80},
	} {
		if _, err := bad.MarshalBinary(); err == nil {
			t.Errorf("MarshalBinary(%+v) succeeded", bad)
		}
	}
}

func equalSensor(a, b SensorRecord) bool {
	return a.Units == b.Units && a.Factors == b.Factors && a.Name == b.Name && a.Thresholds == b.Thresholds &&
		a.Number == b.Number && a.OwnerID == b.OwnerID && a.Channel == b.Channel && a.OwnerLUN == b.OwnerLUN &&
		a.SensorType == b.SensorType && a.EventType == b.EventType && a.AssertMask == b.AssertMask &&
		a.ReadingMask == b.ReadingMask && a.Version == b.Version && a.EntityID == b.EntityID
}

func TestDecodeSDRErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"no header":  {0, 0, 0x51},
		"short body": qemuWatchdogSDR[:20],
		"short full": {0, 0, 0x51, 0x01, 3, 0, 0, 0},
		"id overrun": append(append([]byte(nil), qemuWatchdogSDR[:31]...), 0xc9, 'x'),
		"file tail":  append(append([]byte(nil), qemuWatchdogSDR...), 0x01, 0x00),
	} {
		var err error
		if name == "file tail" {
			_, err = DecodeSDRs(b)
		} else {
			_, err = DecodeSDR(b)
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Unknown types keep their body.
	r, err := DecodeSDR([]byte{9, 0, 0x51, 0x12, 2, 0xaa, 0xbb})
	if err != nil || r.Sensor != nil || r.Type != 0x12 || hexs(r.Body) != "aa bb" || r.RecordID != 9 {
		t.Errorf("MC locator: %+v, %v", r, err)
	}
}

func TestSDRRepository(t *testing.T) {
	res := func(r uint16) step { return ok(NetFnStorage, 0x22, []byte{}, le16(r)...) }
	get := func(res, id uint16, off, n byte) []byte { return cat(le16(res), le16(id), []byte{off, n}) }
	w := qemuWatchdogSDR
	v := fullVoltageSDR
	c, _ := newFake(t,
		ok(NetFnStorage, 0x20, []byte{}, 0x51, 2, 0, 0x00, 0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x22),
		// record 0 (QEMU numbering): header, then 16-byte chunks
		res(1),
		ok(NetFnStorage, 0x23, get(1, 0, 0, 5), cat(le16(5), w[:5])...),
		ok(NetFnStorage, 0x23, get(1, 0, 5, 16), cat(le16(5), w[5:21])...),
		ok(NetFnStorage, 0x23, get(1, 0, 21, 16), cat(le16(5), w[21:37], []byte{0xee, 0xee})...),
		ok(NetFnStorage, 0x23, get(1, 0, 37, 3), cat(le16(5), w[37:40])...),
		// record 5: reservation lost once, then 16 bytes refused (0xCA) -> 8
		res(2),
		ok(NetFnStorage, 0x23, get(2, 5, 0, 5), cat(le16(0xffff), v[:5])...),
		cc(NetFnStorage, 0x23, get(2, 5, 5, 16), 0xc5),
		res(3),
		ok(NetFnStorage, 0x23, get(3, 5, 0, 5), cat(le16(0xffff), v[:5])...),
		cc(NetFnStorage, 0x23, get(3, 5, 5, 16), 0xca),
		ok(NetFnStorage, 0x23, get(3, 5, 5, 8), cat(le16(0xffff), v[5:13])...),
		ok(NetFnStorage, 0x23, get(3, 5, 13, 8), cat(le16(0xffff), v[13:21])...),
		ok(NetFnStorage, 0x23, get(3, 5, 21, 8), cat(le16(0xffff), v[21:29])...),
		ok(NetFnStorage, 0x23, get(3, 5, 29, 8), cat(le16(0xffff), v[29:37])...),
		ok(NetFnStorage, 0x23, get(3, 5, 37, 8), cat(le16(0xffff), v[37:45])...),
		ok(NetFnStorage, 0x23, get(3, 5, 45, 6), cat(le16(0xffff), v[45:51])...),
		// sensors
		ok(NetFnSensorEvent, 0x2d, []byte{0x30}, 0xc2, 0xc0, 0x10, 0x80),
		ok(NetFnSensorEvent, 0x2d, []byte{0x30}, 0x00, 0x20),
		cc(NetFnSensorEvent, 0x2d, []byte{0x31}, 0xcb),
		ok(NetFnSensorEvent, 0x27, []byte{0x30}, 0x3f, 0xa0, 0x9c, 0x94, 0xbd, 0xc1, 0xc8),
		cc(NetFnSensorEvent, 0x27, []byte{0x00}, 0xc1),
	)
	ctx := ctxT(t)
	info, err := c.GetSDRRepositoryInfo(ctx)
	if err != nil || info.Records != 2 || info.FreeBytes != 0x4000 || info.Support != 0x22 {
		t.Fatalf("info = %+v, %v", info, err)
	}
	recs, err := c.SDRRepository(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("SDRRepository = %d, %v", len(recs), err)
	}
	if recs[0].Sensor.Name != "Watchdog" || recs[1].Sensor.Name != "12V" {
		t.Errorf("names %q %q", recs[0].Sensor.Name, recs[1].Sensor.Name)
	}
	volt := *recs[1].Sensor
	sv, err := c.ReadSensor(ctx, volt)
	if err != nil {
		t.Fatal(err)
	}
	if !sv.HasValue || math.Abs(sv.Value-13.386) > 1e-9 || sv.Status != "ucr" || !sv.Reading.EventsEnabled || !sv.Reading.Beyond(UpperCritical) {
		t.Errorf("ReadSensor = %+v", sv)
	}
	sv, err = c.ReadSensor(ctx, volt)
	if err != nil || sv.Status != "na" || sv.HasValue {
		t.Errorf("unavailable ReadSensor = %+v, %v", sv, err)
	}
	if _, err := c.GetSensorReading(ctx, 0x31); !errors.Is(err, ErrNotPresent) {
		t.Errorf("missing sensor: %v", err)
	}
	th, err := c.GetSensorThresholds(ctx, 0x30)
	if err != nil || th.Readable != 0x3f || th.Raw[UpperCritical] != 0xc1 || th.Raw[LowerNonCritical] != 0xa0 {
		t.Errorf("thresholds = %+v, %v", th, err)
	}
	if _, err := c.GetSensorThresholds(ctx, 0); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("qemu thresholds: %v", err)
	}
	if _, err := c.ReadSensor(ctx, SensorRecord{OwnerID: 0x2c}); err == nil {
		t.Error("ReadSensor of a non-BMC sensor succeeded")
	}
}

func TestSDRRepositoryEmptyAndLoop(t *testing.T) {
	c, _ := newFake(t,
		ok(NetFnStorage, 0x22, nil, 1, 0),
		cc(NetFnStorage, 0x23, nil, 0xcb),
		ok(NetFnStorage, 0x22, nil, 1, 0),
		ok(NetFnStorage, 0x23, nil, cat(le16(0), []byte{0, 0, 0x51, 0x12, 0})...), // next points back to 0
	)
	ctx := ctxT(t)
	if recs, err := c.SDRRepository(ctx); err != nil || recs != nil {
		t.Errorf("empty = %v, %v", recs, err)
	}
	if _, err := c.SDRRepository(ctx); !errors.Is(err, ErrSDRLoop) {
		t.Errorf("loop = %v", err)
	}
}

func TestEvaluateStatus(t *testing.T) {
	s := SensorRecord{Type: SDRFullSensor, EventType: EventTypeThreshold, Factors: Factors{M: 1}}
	for states, want := range map[uint16]string{0: "ok", 0x01: "lnc", 0x03: "lcr", 0x07: "lnr", 0x08: "unc", 0x18: "ucr", 0x38: "unr"} {
		if got := s.Evaluate(Reading{ScanningEnabled: true, States: states}).Status; got != want {
			t.Errorf("states %#x: %s, want %s", states, got, want)
		}
	}
	d := SensorRecord{Type: SDRCompactSensor, EventType: EventTypeSensorSpecific}
	if v := d.Evaluate(Reading{ScanningEnabled: true, States: 1}); v.Status != "discrete" || v.HasValue {
		t.Errorf("discrete = %+v", v)
	}
}

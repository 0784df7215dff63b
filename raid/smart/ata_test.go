package smart

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeIdentifyQEMU(t *testing.T) {
	const sectors = 64 << 20 / 512
	id, err := DecodeIdentify(qemuIdentify(sectors, 0x5000c500a1b2c3d4))
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{
		Model: "FeasDisk", Serial: "SATA0001", Firmware: "2.5+",
		Sectors: sectors, LogicalSectorSize: 512, PhysicalSectorSize: 512,
		LBA48: true, SMARTSupported: true, SMARTEnabled: true,
		WWN: 0x5000c500a1b2c3d4,
	}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("got  %+v\nwant %+v", id, want)
	}
	if id.CapacityBytes() != 64<<20 || id.SSD() || id.RPM() != 0 || id.WWNString() != "0x5000c500a1b2c3d4" {
		t.Fatalf("capacity %d ssd %v rpm %d wwn %q", id.CapacityBytes(), id.SSD(), id.RPM(), id.WWNString())
	}
}

func TestDecodeIdentifyFields(t *testing.T) {
	base := func() []byte { return qemuIdentify(1000, 0) }
	tests := []struct {
		name  string
		edit  func(b []byte)
		check func(t *testing.T, id *Identity)
		err   error
	}{
		{"strings byte-swapped and trimmed", func(b []byte) {
			putATAString(b, 27, "  WDC WD40EFRX-68N32N0", 40)
			putATAString(b, 10, "WD-WCC7K1234567", 20)
		}, func(t *testing.T, id *Identity) {
			if id.Model != "WDC WD40EFRX-68N32N0" || id.Serial != "WD-WCC7K1234567" {
				t.Errorf("model %q serial %q", id.Model, id.Serial)
			}
		}, nil},
		{"raw bytes in order: 'aB' word", func(b []byte) {
			for i := 54; i < 94; i++ {
				b[i] = ' '
			}
			b[54], b[55] = 'B', 'a' // word 27 = 'a'<<8 | 'B'
		}, func(t *testing.T, id *Identity) {
			if id.Model != "aB" {
				t.Errorf("model %q", id.Model)
			}
		}, nil},
		{"non-printable becomes ?", func(b []byte) {
			putATAString(b, 23, "1\x01\xff2", 8)
		}, func(t *testing.T, id *Identity) {
			if id.Firmware != "1??2" {
				t.Errorf("firmware %q", id.Firmware)
			}
		}, nil},
		{"NUL padding trimmed", func(b []byte) {
			for i := 20; i < 40; i++ {
				b[i] = 0
			}
			b[21] = 'X'
		}, func(t *testing.T, id *Identity) {
			if id.Serial != "X" {
				t.Errorf("serial %q", id.Serial)
			}
		}, nil},
		{"SSD rotation rate", func(b []byte) { putWord(b, 217, 1) }, func(t *testing.T, id *Identity) {
			if !id.SSD() || id.RPM() != 0 {
				t.Errorf("ssd %v rpm %d", id.SSD(), id.RPM())
			}
		}, nil},
		{"7200 rpm", func(b []byte) { putWord(b, 217, 7200) }, func(t *testing.T, id *Identity) {
			if id.SSD() || id.RPM() != 7200 {
				t.Errorf("ssd %v rpm %d", id.SSD(), id.RPM())
			}
		}, nil},
		{"SMART disabled", func(b []byte) { putWord(b, 85, 1<<14) }, func(t *testing.T, id *Identity) {
			if !id.SMARTSupported || id.SMARTEnabled {
				t.Errorf("supported %v enabled %v", id.SMARTSupported, id.SMARTEnabled)
			}
		}, nil},
		{"word 83 invalid: 82-84 ignored", func(b []byte) { putWord(b, 83, 0xFFFF) }, func(t *testing.T, id *Identity) {
			if id.SMARTSupported || id.LBA48 || id.Sectors != 1000 {
				t.Errorf("supported %v lba48 %v sectors %d", id.SMARTSupported, id.LBA48, id.Sectors)
			}
		}, nil},
		{"word 87 invalid: 85-87 ignored", func(b []byte) { putWord(b, 87, 0) }, func(t *testing.T, id *Identity) {
			if id.SMARTEnabled {
				t.Error("enabled from an invalid word 87")
			}
		}, nil},
		{"28-bit only", func(b []byte) {
			putWord(b, 83, 1<<14)
			putWord(b, 100, 0xFFFF)
		}, func(t *testing.T, id *Identity) {
			if id.LBA48 || id.Sectors != 1000 {
				t.Errorf("lba48 %v sectors %d", id.LBA48, id.Sectors)
			}
		}, nil},
		{"LBA48 words zero: words 60-61", func(b []byte) {
			for w := 100; w < 104; w++ {
				putWord(b, w, 0)
			}
		}, func(t *testing.T, id *Identity) {
			if id.Sectors != 1000 {
				t.Errorf("sectors %d", id.Sectors)
			}
		}, nil},
		{"4Kn with 4K physical", func(b []byte) {
			putWord(b, 106, 0x4000|1<<12)
			putWord(b, 117, 2048)
			putWord(b, 118, 0)
		}, func(t *testing.T, id *Identity) {
			if id.LogicalSectorSize != 4096 || id.PhysicalSectorSize != 4096 || id.CapacityBytes() != 4096000 {
				t.Errorf("lss %d pss %d cap %d", id.LogicalSectorSize, id.PhysicalSectorSize, id.CapacityBytes())
			}
		}, nil},
		{"512e", func(b []byte) { putWord(b, 106, 0x4000|1<<13|3) }, func(t *testing.T, id *Identity) {
			if id.LogicalSectorSize != 512 || id.PhysicalSectorSize != 4096 {
				t.Errorf("lss %d pss %d", id.LogicalSectorSize, id.PhysicalSectorSize)
			}
		}, nil},
		{"absurd logical size ignored", func(b []byte) {
			putWord(b, 106, 0x4000|1<<12)
			putWord(b, 117, 3)
		}, func(t *testing.T, id *Identity) {
			if id.LogicalSectorSize != 512 {
				t.Errorf("lss %d", id.LogicalSectorSize)
			}
		}, nil},
		{"WWN without the word 84/87 bit ignored", func(b []byte) {
			putWord(b, 108, 0x5000)
		}, func(t *testing.T, id *Identity) {
			if id.WWN != 0 || id.WWNString() != "" {
				t.Errorf("wwn %#x", id.WWN)
			}
		}, nil},
		{"integrity word correct", sealIdentify, func(t *testing.T, id *Identity) {}, nil},
		{"integrity word wrong", func(b []byte) {
			sealIdentify(b)
			b[511]++
		}, nil, ErrBadChecksum},
		{"no signature, no check", func(b []byte) { b[511] = 0x77 }, func(t *testing.T, id *Identity) {}, nil},
		{"sectors beyond 48 bits", func(b []byte) { putWord(b, 103, 1) }, nil, ErrMalformed},
		{"all zero", func(b []byte) {
			for i := range b {
				b[i] = 0
			}
		}, nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			tc.edit(b)
			id, err := DecodeIdentify(b)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, id)
		})
	}
}

func TestDecodeIdentifyTruncated(t *testing.T) {
	b := qemuIdentify(1000, 0)
	for _, n := range []int{0, 1, 255, 511} {
		if _, err := DecodeIdentify(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	if _, err := DecodeIdentify(append(b, 1, 2, 3)); err != nil {
		t.Errorf("extra bytes: %v", err)
	}
}

func TestEncodeIdentifyRoundTrip(t *testing.T) {
	for _, id := range []*Identity{
		{Model: "Samsung SSD 870 EVO 1TB", Serial: "S6PUNX0R123456A", Firmware: "SVT02B6Q",
			Sectors: 1953525168, LogicalSectorSize: 512, PhysicalSectorSize: 512, LBA48: true,
			RotationRate: 1, SMARTSupported: true, SMARTEnabled: true, WWN: 0x5002538f4123abcd},
		{Model: "ST4000NM0035-1V4107", Serial: "ZC1ABCDE", Firmware: "TNC3",
			Sectors: 7814037168, LogicalSectorSize: 512, PhysicalSectorSize: 4096, LBA48: true,
			RotationRate: 7200, SMARTSupported: true},
		{Model: "old", Serial: "1", Firmware: "f", Sectors: 0x0FFFFFFF, LogicalSectorSize: 4096,
			PhysicalSectorSize: 4096},
	} {
		got, err := DecodeIdentify(encodeIdentify(id))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, id) {
			t.Errorf("got  %+v\nwant %+v", got, id)
		}
	}
}

// The QEMU 7.2 fixed table (notes/qemu.md §4, hw/ide/core.c).
func TestDecodeSMARTDataQEMU(t *testing.T) {
	d, err := DecodeSMARTData(qemuSMARTData())
	if err != nil {
		t.Fatal(err)
	}
	want := []Attribute{
		{ID: 1, Flags: 3, Value: 100, Worst: 100, slot: 0},
		{ID: 3, Flags: 3, Value: 100, Worst: 100, Raw: 16, slot: 1},
		{ID: 4, Flags: 2, Value: 100, Worst: 100, Raw: 100, slot: 2},
		{ID: 5, Flags: 3, Value: 100, Worst: 100, slot: 3},
		{ID: 9, Flags: 3, Value: 100, Worst: 100, Raw: 1, slot: 4},
		{ID: 12, Flags: 3, Value: 100, Worst: 100, slot: 5},
		{ID: 190, Flags: 3, Value: 69, Worst: 69, Raw: 0x1f1f001f, slot: 6},
	}
	if !reflect.DeepEqual(d.Attributes, want) {
		t.Fatalf("attributes\n got %+v\nwant %+v", d.Attributes, want)
	}
	if d.Revision != 1 || d.OfflineStatus != 2 || d.OfflineSeconds != 0x120 || d.OfflineCap != 0x19 ||
		d.Capability != 3 || d.ErrorLogging != 1 || d.ShortTestMinutes != 2 || d.ExtendedTestMinutes != 0x36 ||
		d.ConveyanceTestMinutes != 1 {
		t.Fatalf("header %+v", d)
	}
	if temp, ok := d.Temperature(); !ok || temp != 31 {
		t.Errorf("temperature %d %v, want 31", temp, ok)
	}
	if h, ok := d.PowerOnHours(); !ok || h != 1 {
		t.Errorf("power on hours %d %v", h, ok)
	}
	names := map[uint8]string{1: "Raw_Read_Error_Rate", 3: "Spin_Up_Time", 4: "Start_Stop_Count",
		5: "Reallocated_Sector_Ct", 9: "Power_On_Hours", 12: "Power_Cycle_Count", 190: "Airflow_Temperature_Cel"}
	for _, a := range d.Attributes {
		if a.Name() != names[a.ID] {
			t.Errorf("attribute %d named %q, want %q", a.ID, a.Name(), names[a.ID])
		}
	}
	th, err := DecodeThresholds(qemuThresholds())
	if err != nil {
		t.Fatal(err)
	}
	wantTh := map[uint8]uint8{1: 6, 3: 0, 4: 20, 5: 36, 9: 0, 12: 0, 190: 50}
	for _, a := range d.Attributes {
		v, ok := th.For(a)
		if !ok || v != wantTh[a.ID] {
			t.Errorf("threshold of %d = %d %v, want %d", a.ID, v, ok, wantTh[a.ID])
		}
		if st, _ := State(a, th); st != AttrOK {
			t.Errorf("attribute %d state %s", a.ID, st)
		}
	}
}

func TestDecodeSMARTDataLayout(t *testing.T) {
	b := make([]byte, 512)
	b[0], b[1] = 0x10, 0x00
	// slot 2: id 197, flags 0x0032, value 99, worst 98, raw 0x060504030201
	e := b[2+2*12:]
	copy(e, []byte{197, 0x32, 0x00, 99, 98, 1, 2, 3, 4, 5, 6, 0xAA})
	b[373] = 0xFF
	b[375], b[376] = 0x2C, 0x01 // 300 min
	b[511] = -sum8(b[:511])
	d, err := DecodeSMARTData(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Attribute{ID: 197, Flags: 0x32, Value: 99, Worst: 98, Raw: 0x060504030201, slot: 2}
	if len(d.Attributes) != 1 || d.Attributes[0] != want {
		t.Fatalf("attributes %+v", d.Attributes)
	}
	if d.Revision != 0x10 || d.ExtendedTestMinutes != 300 {
		t.Fatalf("revision %#x extended %d", d.Revision, d.ExtendedTestMinutes)
	}
	if d.Attributes[0].PreFail() || !d.Attributes[0].Online() {
		t.Fatalf("flags")
	}
}

func TestDecodePagesErrors(t *testing.T) {
	good := qemuSMARTData()
	bad := bytes.Clone(good)
	bad[100]++
	zero := make([]byte, 512)
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"511 bytes", good[:511], ErrTruncated},
		{"checksum", bad, ErrBadChecksum},
		{"all zero", zero, ErrMalformed},
	} {
		if _, err := DecodeSMARTData(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("data %s: %v, want %v", tc.name, err, tc.err)
		}
		if _, err := DecodeThresholds(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("thresholds %s: %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestRawCount(t *testing.T) {
	raw := uint64(0x0000_1234_5678_9ABC)
	for _, tc := range []struct {
		id   uint8
		want uint64
	}{
		{3, 0x9ABC}, {5, 0x9ABC}, {196, 0x9ABC}, {9, 0x789ABC},
		{190, 0xBC}, {194, 0xBC}, {197, raw}, {198, raw}, {1, raw},
	} {
		if got := (Attribute{ID: tc.id, Raw: raw}).RawCount(); got != tc.want {
			t.Errorf("attribute %d: %#x, want %#x", tc.id, got, tc.want)
		}
	}
}

func TestTemperaturePreference(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []Attribute
		want  int
		ok    bool
	}{
		{"194 over 190", []Attribute{attr(190, 0, 60, 60, 40), attr(194, 0, 40, 40, 0x0014_0028_0024)}, 36, true},
		{"190 only", []Attribute{attr(190, 0, 69, 69, 31)}, 31, true},
		{"194 implausible, 190 used", []Attribute{attr(194, 0, 0, 0, 0), attr(190, 0, 0, 0, 33)}, 33, true},
		{"none", []Attribute{attr(5, 0, 100, 100, 0)}, 0, false},
		{"out of range", []Attribute{attr(194, 0, 1, 1, 200)}, 0, false},
	} {
		d := &SMARTData{Attributes: tc.attrs}
		if got, ok := d.Temperature(); got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v", tc.name, got, ok)
		}
	}
}

func TestThresholdLookupAndState(t *testing.T) {
	// Duplicate id 200: the same slot wins, as in smartctl.
	th := &Thresholds{Entries: []Threshold{{ID: 5, Value: 36, slot: 0}, {ID: 200, Value: 10, slot: 1}, {ID: 200, Value: 90, slot: 2}}}
	a := Attribute{ID: 200, Value: 50, Worst: 50, slot: 2}
	if v, ok := th.For(a); !ok || v != 90 {
		t.Fatalf("same-slot lookup %d %v", v, ok)
	}
	a.slot = 7
	if v, ok := th.For(a); !ok || v != 10 {
		t.Fatalf("by-id lookup %d %v", v, ok)
	}
	for _, tc := range []struct {
		a    Attribute
		th   *Thresholds
		want AttrState
	}{
		{attr(5, 3, 100, 100, 0), th, AttrOK},
		{attr(5, 3, 36, 36, 0), th, AttrFailingNow},
		{attr(5, 3, 1, 1, 0), th, AttrFailingNow},
		{attr(5, 3, 37, 36, 0), th, AttrFailedPast},
		{attr(9, 3, 1, 1, 0), th, AttrNoThreshold},
		{attr(9, 3, 1, 1, 0), nil, AttrNoThreshold},
		{attr(9, 3, 0, 0, 0), &Thresholds{Entries: []Threshold{{ID: 9, Value: 0}}}, AttrOK},
	} {
		if got, _ := State(tc.a, tc.th); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.a, got, tc.want)
		}
	}
}

func TestAttributeNames(t *testing.T) {
	for id, name := range map[uint8]string{
		5: "Reallocated_Sector_Ct", 9: "Power_On_Hours", 187: "Reported_Uncorrect", 188: "Command_Timeout",
		190: "Airflow_Temperature_Cel", 194: "Temperature_Celsius", 197: "Current_Pending_Sector",
		198: "Offline_Uncorrectable", 199: "UDMA_CRC_Error_Count", 0: "Unknown_Attribute", 255: "Unknown_Attribute",
	} {
		if got := AttributeName(id); got != name {
			t.Errorf("%d: %q, want %q", id, got, name)
		}
	}
}

func TestDecodeReturnStatus(t *testing.T) {
	for _, tc := range []struct {
		regs *ATARegs
		want SMARTStatus
	}{
		{nil, StatusUnknown},
		{passedRegs(), StatusPassed},
		{failingRegs(), StatusFailing},
		{&ATARegs{LBA: 0xC24F00 | 0x12, Count: 7}, StatusPassed}, // LBA 7:0 ignored
		{&ATARegs{LBA: 0x2CF400 | 0x0F000000, Ext: true}, StatusFailing},
		{&ATARegs{LBA: 0}, StatusUnknown},
		{&ATARegs{LBA: 0xC2F400}, StatusUnknown},
	} {
		if got := DecodeReturnStatus(tc.regs); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.regs, got, tc.want)
		}
	}
	if r := passedRegs(); r.LBAMid() != 0x4F || r.LBAHigh() != 0xC2 {
		t.Errorf("mid %#x high %#x", r.LBAMid(), r.LBAHigh())
	}
}

package ipmi

import (
	"errors"
	"testing"
	"time"
)

// qemuWatchdogEvent is the record QEMU's bmc-sim logs when the watchdog
// resets the guest: sensor 0 of type Watchdog 2, offset 1 (hard reset),
// event data 2 = timer use SMS/OS.
var qemuWatchdogEvent = []byte{0x00, 0x00, 0x02, 0x10, 0x32, 0x54, 0x65, 0x20, 0x00, 0x04, 0x23, 0x00, 0x6f, 0xc1, 0x04, 0xff}

func TestGetSELInfo(t *testing.T) {
	c, _ := newFake(t,
		// QEMU: empty, 128 x 16 free, never added/cleared, reserve supported.
		ok(NetFnStorage, 0x40, []byte{}, 0x51, 0, 0, 0x00, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02),
		ok(NetFnStorage, 0x40, nil, 0x51, 120, 0, 128, 0, 0x00, 0x00, 0x00, 0x65, 0xff, 0xff, 0xff, 0xff, 0x02),
		ok(NetFnStorage, 0x40, nil, 0x51, 128, 0, 0, 0, 0, 0, 0, 0x65, 0, 0, 0, 0x65, 0x8f, 0xaa),
		ok(NetFnStorage, 0x40, nil, 0x51, 0),
	)
	ctx := ctxT(t)
	i, err := c.GetSELInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i.Entries != 0 || i.FreeEntries() != 128 || i.Capacity() != 128 || !i.CanReserve || i.CanDelete || i.AlmostFull() ||
		i.LastAdd != TimestampUnspecified || i.LastAdd.String() != "unspecified" {
		t.Errorf("empty info = %+v", i)
	}
	i, err = c.GetSELInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i.FreeEntries() != 8 || !i.AlmostFull() || i.Overflow {
		t.Errorf("almost full info = %+v (AlmostFull %v)", i, i.AlmostFull())
	}
	if tm, ok := i.LastAdd.Time(); !ok || tm != time.Unix(0x65000000, 0).UTC() {
		t.Errorf("LastAdd = %v", i.LastAdd)
	}
	i, err = c.GetSELInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !i.Overflow || !i.AlmostFull() || !i.CanDelete || !i.PartialAdd || !i.GetAllocate {
		t.Errorf("full info = %+v", i)
	}
	if _, err := c.GetSELInfo(ctx); !errors.Is(err, ErrShortResponse) {
		t.Errorf("short info: %v", err)
	}
}

func TestSELAlmostFull(t *testing.T) {
	for _, tt := range []struct {
		entries, free uint16
		want          bool
	}{
		{0, 128 * 16, false}, {112, 16 * 16, false}, {113, 15 * 16, true},
		{0, 0, true}, {6, 4 * 16, false}, {7, 3 * 16, true}, {1000, 0xffff, false},
	} {
		i := SELInfo{Entries: tt.entries, FreeBytes: tt.free}
		if got := i.AlmostFull(); got != tt.want {
			t.Errorf("entries %d free %d: AlmostFull = %v", tt.entries, tt.free, got)
		}
	}
}

func TestSELEntries(t *testing.T) {
	rec := func(id uint16, sensor byte) []byte {
		b := append([]byte(nil), qemuWatchdogEvent...)
		b[0], b[1], b[11] = byte(id), byte(id>>8), sensor
		return b
	}
	getReq := func(id uint16) []byte { return []byte{0, 0, byte(id), byte(id >> 8), 0, 0xff} }
	tests := []struct {
		name    string
		script  []step
		want    []uint16 // record ids
		wantErr error
	}{
		{name: "empty", script: []step{cc(NetFnStorage, 0x43, getReq(0), 0xcb)}},
		{name: "qemu ids from zero", script: []step{
			ok(NetFnStorage, 0x43, getReq(0), cat(le16(1), rec(0, 0))...),
			ok(NetFnStorage, 0x43, getReq(1), cat(le16(2), rec(1, 1))...),
			ok(NetFnStorage, 0x43, getReq(2), cat(le16(0xffff), rec(2, 2), []byte{0xee})...),
		}, want: []uint16{0, 1, 2}},
		{name: "real BMC ids", script: []step{
			ok(NetFnStorage, 0x43, getReq(0), cat(le16(0x0102), rec(0x0001, 0))...),
			ok(NetFnStorage, 0x43, getReq(0x0102), cat(le16(0xffff), rec(0x0102, 1))...),
		}, want: []uint16{1, 0x0102}},
		{name: "loop", script: []step{
			ok(NetFnStorage, 0x43, getReq(0), cat(le16(5), rec(1, 0))...),
			ok(NetFnStorage, 0x43, getReq(5), cat(le16(1), rec(5, 0))...),
		}, want: []uint16{1, 5}, wantErr: ErrSELLoop},
		{name: "truncated", script: []step{
			ok(NetFnStorage, 0x43, getReq(0), cat(le16(1), rec(0, 0))...),
			ok(NetFnStorage, 0x43, getReq(1), cat(le16(2), rec(1, 1)[:10])...),
		}, want: []uint16{0}, wantErr: ErrShortResponse},
		{name: "record vanished mid-read", script: []step{
			ok(NetFnStorage, 0x43, getReq(0), cat(le16(1), rec(0, 0))...),
			cc(NetFnStorage, 0x43, getReq(1), 0xcb),
		}, want: []uint16{0}, wantErr: ErrNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newFake(t, tt.script...)
			recs, err := c.SELEntries(ctxT(t))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SELEntries error = %v, want %v", err, tt.wantErr)
			}
			var ids []uint16
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			if len(ids) != len(tt.want) {
				t.Fatalf("ids = %v, want %v", ids, tt.want)
			}
			for i := range ids {
				if ids[i] != tt.want[i] {
					t.Fatalf("ids = %v, want %v", ids, tt.want)
				}
			}
		})
	}
}

func TestLogEventAndClear(t *testing.T) {
	boot := []byte{0, 0, 0x02, 0, 0, 0, 0, 0x41, 0x00, 0x04, 0x1f, 0x01, 0x6f, 0x06, 0xff, 0xff}
	c, _ := newFake(t,
		ok(NetFnStorage, 0x44, boot, 0x07, 0x00),
		cc(NetFnStorage, 0x44, nil, 0xc4),
		// clear: reservation cancelled once, then erase in progress, then done
		ok(NetFnStorage, 0x42, []byte{}, 0x34, 0x12),
		cc(NetFnStorage, 0x47, []byte{0x34, 0x12, 'C', 'L', 'R', 0xaa}, 0xc5),
		ok(NetFnStorage, 0x42, nil, 0x35, 0x12),
		ok(NetFnStorage, 0x47, []byte{0x35, 0x12, 'C', 'L', 'R', 0xaa}, 0x00),
		ok(NetFnStorage, 0x47, []byte{0x35, 0x12, 'C', 'L', 'R', 0x00}, 0x01),
		ok(NetFnStorage, 0x48, []byte{}, 0x00, 0x00, 0x00, 0x65),
		ok(NetFnStorage, 0x49, []byte{0x00, 0x00, 0x00, 0x66}),
	)
	ctx := ctxT(t)
	ev := SystemEvent{SensorType: SensorOSBoot, Sensor: 1, EventType: EventTypeSensorSpecific, Data: [3]byte{0x06, 0xff, 0xff}}
	id, err := c.LogEvent(ctx, ev)
	if err != nil || id != 7 {
		t.Fatalf("LogEvent = %d, %v", id, err)
	}
	if _, err := c.LogEvent(ctx, ev); !errors.Is(err, ErrOutOfSpace) {
		t.Fatalf("LogEvent on full SEL = %v", err)
	}
	if err := c.ClearSEL(ctx); err != nil {
		t.Fatal(err)
	}
	ts, err := c.GetSELTime(ctx)
	if err != nil || ts != 0x65000000 {
		t.Fatalf("GetSELTime = %#x, %v", uint32(ts), err)
	}
	if err := c.SetSELTime(ctx, time.Unix(0x66000000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSELTime(ctx, time.Unix(5, 0)); err == nil {
		t.Fatal("SetSELTime(1970) succeeded")
	}
}

func TestDecodeSELRecord(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"qemu watchdog reset", qemuWatchdogEvent,
			"0x0000 | 2023-11-15T02:50:56Z | Watchdog 2 #0x00 | Hard reset | Asserted"},
		{"threshold upper critical", []byte{0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x65, 0x20, 0x00, 0x04, 0x01, 0x30, 0x01, 0x59, 0x5a, 0x55},
			"0x0012 | 2023-09-12T06:06:56Z | Temperature #0x30 | Upper Critical going high | Asserted"},
		{"generic deasserted", []byte{0x13, 0x00, 0x02, 0x05, 0x00, 0x00, 0x00, 0x20, 0x00, 0x04, 0x08, 0x07, 0x88, 0x01, 0xff, 0xff},
			"0x0013 | pre-init +5s | Power Supply #0x07 | Device Present | Deasserted"},
		{"drive fault from keep", []byte{0x14, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x41, 0x00, 0x04, 0x0d, 0x03, 0x6f, 0x01, 0xff, 0xff},
			"0x0014 | unspecified | Drive Slot (Bay) #0x03 | Drive Fault | Asserted"},
		{"unknown offset", []byte{0x15, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x41, 0x00, 0x04, 0xd0, 0x03, 0x6f, 0x0e, 0xff, 0xff},
			"0x0015 | unspecified | OEM sensor type 0xd0 #0x03 | offset 0xe | Asserted"},
		{"oem timestamped", []byte{0x16, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x65, 0x57, 0x01, 0x00, 1, 2, 3, 4, 5, 6},
			"0x0016 | 2023-09-12T06:06:56Z | type 0xc1 (OEM timestamped) | 00 00 00 65 57 01 00 01 02 03 04 05 06"},
		{"oem non-timestamped", []byte{0x17, 0x00, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
			"0x0017 | unspecified | type 0xe0 (OEM non-timestamped) | 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d"},
		{"unknown type", []byte{0x18, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
			"0x0018 | pre-init +0s | type 0x05 (unknown) | 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeSELRecord(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
			b, err := r.MarshalBinary()
			if err != nil || hexs(b) != hexs(tt.in) {
				t.Errorf("round trip = % x, %v; want % x", b, err, tt.in)
			}
		})
	}
	r, _ := DecodeSELRecord(qemuWatchdogEvent)
	if r.Event.Generator() != "IPMB 0x20 ch 0 lun 0" || r.Event.Offset() != 1 {
		t.Errorf("generator %q offset %d", r.Event.Generator(), r.Event.Offset())
	}
	r.Event.GeneratorID = GeneratorSystemSoftware
	if r.Event.Generator() != "software id 0x20" {
		t.Errorf("generator %q", r.Event.Generator())
	}
	if _, err := DecodeSELRecord(qemuWatchdogEvent[:15]); !errors.Is(err, ErrSELRecordSize) {
		t.Errorf("short record: %v", err)
	}
}

package smart

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeNVMeControllerQEMU(t *testing.T) {
	// QEMU 7.2 `-device nvme,serial=NVME0001`: mn "QEMU NVMe Ctrl", fr
	// "7.2.22" (notes/qemu.md §4); WCTEMP 0x157, CCTEMP 0x175.
	c, err := DecodeNVMeController(nvmeIdentifyCtrl("QEMU NVMe Ctrl", "NVME0001", "7.2.22", 0x157, 0x175))
	if err != nil {
		t.Fatal(err)
	}
	want := &NVMeController{VendorID: 0x1b36, SubsystemVendorID: 0x1af4, Serial: "NVME0001",
		Model: "QEMU NVMe Ctrl", Firmware: "7.2.22", Version: 0x00010400,
		WarningTempK: 343, CriticalTempK: 373, Namespaces: 256}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	b := nvmeIdentifyCtrl("m", "s", "f", 0, 0)
	binary.LittleEndian.PutUint64(b[280:], 1<<40)
	binary.LittleEndian.PutUint64(b[288:], 2)
	b[30] = 0x07
	c, err = DecodeNVMeController(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.TotalCapacity != (Uint128{Lo: 1 << 40, Hi: 2}) || c.Model != "m     ?" {
		t.Fatalf("tnvmcap %+v model %q", c.TotalCapacity, c.Model)
	}
	if _, err := DecodeNVMeController(b[:4095]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short: %v", err)
	}
}

func TestDecodeNVMeNamespace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		b     []byte
		block uint32
		bytes uint64
		err   error
	}{
		{"512 B blocks", nvmeIdentifyNS(131072, 0, 9), 512, 64 << 20, nil},
		{"4 KiB format 3", nvmeIdentifyNS(1<<20, 3, 12), 4096, 4 << 30, nil},
		{"format index above 15 (FLBAS bits 6:5)", func() []byte {
			b := nvmeIdentifyNS(100, 0, 9)
			b[26] = 0x01 | 1<<5 // index 17
			b[128+4*17+2] = 12
			return b
		}(), 4096, 409600, nil},
		{"inactive namespace", nvmeIdentifyNS(0, 0, 0), 0, 0, nil},
		{"LBADS below 512", nvmeIdentifyNS(100, 1, 8), 0, 0, ErrMalformed},
		{"LBADS above 64 KiB", nvmeIdentifyNS(100, 1, 17), 0, 0, ErrMalformed},
		{"capacity overflows 64 bits", nvmeIdentifyNS(1<<60, 0, 12), 0, 0, ErrMalformed},
		{"truncated", nvmeIdentifyNS(100, 0, 9)[:100], 0, 0, ErrTruncated},
	} {
		n, err := DecodeNVMeNamespace(tc.b)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if n.BlockSize != tc.block || n.CapacityBytes() != tc.bytes {
			t.Errorf("%s: block %d bytes %d", tc.name, n.BlockSize, n.CapacityBytes())
		}
	}
}

func TestDecodeHealthLogOffsets(t *testing.T) {
	b := make([]byte, 512)
	le := binary.LittleEndian
	b[0] = 0x05
	le.PutUint16(b[1:], 323)
	b[3], b[4], b[5], b[6] = 97, 10, 120, 0x01
	for i, off := range []int{32, 48, 64, 80, 96, 112, 128, 144, 160, 176} {
		le.PutUint64(b[off:], uint64(1000+i))
		le.PutUint64(b[off+8:], uint64(i))
	}
	le.PutUint32(b[192:], 11)
	le.PutUint32(b[196:], 12)
	for i := 0; i < 8; i++ {
		le.PutUint16(b[200+2*i:], uint16(300+i))
	}
	le.PutUint32(b[216:], 21)
	le.PutUint32(b[220:], 22)
	le.PutUint32(b[224:], 23)
	le.PutUint32(b[228:], 24)
	b[300] = 0xEE // reserved: ignored
	h, err := DecodeHealthLog(b)
	if err != nil {
		t.Fatal(err)
	}
	u := func(i int) Uint128 { return Uint128{Lo: uint64(1000 + i), Hi: uint64(i)} }
	want := &HealthLog{
		CriticalWarning: 5, TemperatureK: 323, AvailableSpare: 97, SpareThreshold: 10, PercentageUsed: 120,
		EnduranceWarning: 1, DataUnitsRead: u(0), DataUnitsWritten: u(1), HostReads: u(2), HostWrites: u(3),
		ControllerBusyMinutes: u(4), PowerCycles: u(5), PowerOnHours: u(6), UnsafeShutdowns: u(7),
		MediaErrors: u(8), ErrorLogEntries: u(9), WarningTempMinutes: 11, CriticalTempMinutes: 12,
		TempSensorsK:      [8]uint16{300, 301, 302, 303, 304, 305, 306, 307},
		ThermalMgmt1Count: 21, ThermalMgmt2Count: 22, ThermalMgmt1Seconds: 23, ThermalMgmt2Seconds: 24,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
	if c, ok := h.TemperatureC(); !ok || c != 50 {
		t.Fatalf("temperature %d %v", c, ok)
	}
	if _, err := DecodeHealthLog(b[:511]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short: %v", err)
	}
	if _, ok := (&HealthLog{}).TemperatureC(); ok {
		t.Fatal("0 K is a temperature")
	}
}

func TestUint128(t *testing.T) {
	for _, tc := range []struct {
		u    Uint128
		want string
	}{
		{Uint128{}, "0"},
		{Uint128{Lo: 12345}, "12345"},
		{Uint128{Lo: ^uint64(0)}, "18446744073709551615"},
		{Uint128{Lo: 0, Hi: 1}, "18446744073709551616"},
		{Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}, "340282366920938463463374607431768211455"},
	} {
		if tc.u.String() != tc.want {
			t.Errorf("%+v: %s", tc.u, tc.u.String())
		}
		j, err := json.Marshal(tc.u)
		if err != nil || string(j) != tc.want {
			t.Errorf("json %s %v", j, err)
		}
		var back Uint128
		if err := json.Unmarshal(j, &back); err != nil || back != tc.u {
			t.Errorf("unmarshal %s: %+v %v", j, back, err)
		}
		if tc.u.IsZero() != (tc.want == "0") {
			t.Errorf("IsZero %+v", tc.u)
		}
		if v, ok := tc.u.Uint64(); ok != (tc.u.Hi == 0) || (ok && v != tc.u.Lo) {
			t.Errorf("Uint64 %d %v", v, ok)
		}
	}
	var u Uint128
	for _, bad := range []string{`-1`, `"x"`, `340282366920938463463374607431768211456`, `1.5`} {
		if err := json.Unmarshal([]byte(bad), &u); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

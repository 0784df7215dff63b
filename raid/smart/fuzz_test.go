package smart

import (
	"bytes"
	"reflect"
	"testing"
)

// printable reports whether s is what the string decoders promise:
// printable ASCII, no leading or trailing space, at most n bytes.
func printable(s string, n int) bool {
	if len(s) > n || s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// FuzzDecodeIdentify: no panic; whatever decodes has clean strings and a
// capacity that fits, and re-encoding it decodes to the same identity.
func FuzzDecodeIdentify(f *testing.F) {
	f.Add(qemuIdentify(131072, 0x5000c500a1b2c3d4))
	f.Add(encodeIdentify(&Identity{Model: "SSD", Serial: "1", Firmware: "f", Sectors: 1 << 40, LogicalSectorSize: 4096,
		PhysicalSectorSize: 4096, LBA48: true, RotationRate: 1, SMARTSupported: true, SMARTEnabled: true}))
	f.Add(make([]byte, 512))
	f.Add([]byte{0xA5})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) {
			id, err := DecodeIdentify(b)
			if err != nil {
				return
			}
			if !printable(id.Model, 40) || !printable(id.Serial, 20) || !printable(id.Firmware, 8) {
				t.Fatalf("strings %q %q %q", id.Model, id.Serial, id.Firmware)
			}
			if id.Sectors >= 1<<48 || id.LogicalSectorSize < 512 || id.LogicalSectorSize > 1<<16 ||
				id.PhysicalSectorSize < id.LogicalSectorSize {
				t.Fatalf("geometry %+v", id)
			}
			if id.Sectors*uint64(id.LogicalSectorSize)/uint64(id.LogicalSectorSize) != id.Sectors {
				t.Fatalf("capacity overflows: %+v", id)
			}
			again, err := DecodeIdentify(encodeIdentify(id))
			if err != nil {
				t.Fatalf("re-encoded identity does not decode: %v", err)
			}
			if !reflect.DeepEqual(again, id) {
				t.Fatalf("round trip\n got %+v\nwant %+v", again, id)
			}
		}
		check(data)
		// Random bytes rarely carry a valid integrity word; seal a copy.
		if len(data) >= 512 {
			b := bytes.Clone(data[:512])
			sealIdentify(b)
			check(b)
		}
	})
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// reseal fixes the checksum byte of a 512-byte SMART page copy.
func reseal(data []byte) []byte {
	b := make([]byte, 512)
	copy(b, data)
	b[511] = 0
	b[511] = -sum8(b[:511])
	return b
}

// FuzzDecodeSMARTData: no panic; the attribute list is exactly the
// non-empty slots; encode∘decode is the identity on the decoded fields;
// judging the page against thresholds from the same bytes never panics.
func FuzzDecodeSMARTData(f *testing.F) {
	f.Add(qemuSMARTData())
	f.Add(smartPage([]Attribute{attr(5, 0x33, 1, 1, 1<<47), attr(194, 0x22, 20, 20, 0xFF)}, false))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) {
			d, err := DecodeSMARTData(b)
			if err != nil {
				return
			}
			n := 0
			for i := 0; i < smartSlots; i++ {
				if b[2+12*i] != 0 {
					n++
				}
			}
			if len(d.Attributes) != n {
				t.Fatalf("%d attributes from %d used slots", len(d.Attributes), n)
			}
			for _, a := range d.Attributes {
				if a.Raw >= 1<<48 {
					t.Fatalf("raw %#x beyond 48 bits", a.Raw)
				}
			}
			enc := encodeSMARTData(d)
			if allZero(enc) {
				return // only vendor bytes were set: nothing decoded to re-encode
			}
			again, err := DecodeSMARTData(enc)
			if err != nil {
				t.Fatalf("re-encoded page does not decode: %v", err)
			}
			if !reflect.DeepEqual(again, d) {
				t.Fatalf("round trip\n got %+v\nwant %+v", again, d)
			}
			th, _ := DecodeThresholds(b)
			h := &ATAHealth{Identity: Identity{SMARTSupported: true, SMARTEnabled: true}, Data: d, Thresholds: th, Status: StatusPassed}
			v, rs := DefaultPolicy().EvaluateATA(h)
			if v != worst(rs) {
				t.Fatalf("verdict %s does not follow its reasons", v)
			}
			_ = ATAReport("/dev/sdx", h, DefaultPolicy())
		}
		check(data)
		if len(data) >= 100 {
			check(reseal(data))
		}
	})
}

// FuzzDecodeThresholds: the same properties for the thresholds page, and
// every attribute of the same bytes finds a consistent threshold.
func FuzzDecodeThresholds(f *testing.F) {
	f.Add(qemuThresholds())
	f.Add(thresholdPage(0x10, []Threshold{{ID: 5, Value: 36}, {ID: 5, Value: 10}}, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) {
			th, err := DecodeThresholds(b)
			if err != nil {
				return
			}
			enc := thresholdPage(th.Revision, th.Entries, true)
			if allZero(enc) {
				return
			}
			again, err := DecodeThresholds(enc)
			if err != nil {
				t.Fatalf("re-encoded page does not decode: %v", err)
			}
			if !reflect.DeepEqual(again, th) {
				t.Fatalf("round trip\n got %+v\nwant %+v", again, th)
			}
			for _, e := range th.Entries {
				v, ok := th.For(Attribute{ID: e.ID, slot: e.slot})
				if !ok || v != e.Value {
					t.Fatalf("slot %d id %d: threshold %d %v, want %d", e.slot, e.ID, v, ok, e.Value)
				}
			}
		}
		check(data)
		if len(data) >= 100 {
			check(reseal(data))
		}
	})
}

// FuzzDecodeHealthLog: no panic; re-encoding the decoded log over the
// input reproduces the input byte for byte (every field at its offset,
// nothing invented); the verdict follows its reasons.
func FuzzDecodeHealthLog(f *testing.F) {
	f.Add(qemuHealthLog(0))
	f.Add(qemuHealthLog(0xFF))
	f.Add(bytes.Repeat([]byte{0xFF}, 512))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHealthLog(data)
		if err != nil {
			if len(data) >= 512 {
				t.Fatalf("%d bytes refused: %v", len(data), err)
			}
			return
		}
		if got := encodeHealthLog(h, data[:512]); !bytes.Equal(got, data[:512]) {
			t.Fatalf("re-encoding differs")
		}
		nh := &NVMeHealth{Log: *h}
		v, rs := DefaultPolicy().EvaluateNVMe(nh)
		critical := h.CriticalWarning != 0 || h.EnduranceWarning != 0
		if v != worst(rs) || critical != (v == Failing) {
			t.Fatalf("verdict %s reasons %v for critical warning %#x/%#x", v, rs, h.CriticalWarning, h.EnduranceWarning)
		}
		_ = NVMeReport("/dev/nvme0", nh, DefaultPolicy())
	})
}

// FuzzDecodeNVMeIdentify: no panic on either Identify structure;
// strings clean; namespace capacity never overflows.
func FuzzDecodeNVMeIdentify(f *testing.F) {
	f.Add(nvmeIdentifyCtrl("QEMU NVMe Ctrl", "NVME0001", "7.2.22", 343, 373)[:600])
	f.Add(nvmeIdentifyNS(131072, 0, 9)[:600])
	f.Fuzz(func(t *testing.T, data []byte) {
		b := make([]byte, 4096)
		copy(b, data)
		c, err := DecodeNVMeController(b)
		if err != nil {
			t.Fatal(err)
		}
		if !printable(c.Model, 40) || !printable(c.Serial, 20) || !printable(c.Firmware, 8) {
			t.Fatalf("strings %q %q %q", c.Model, c.Serial, c.Firmware)
		}
		n, err := DecodeNVMeNamespace(b)
		if err != nil {
			return
		}
		if n.BlockSize != 0 && n.CapacityBytes()/uint64(n.BlockSize) != n.Size {
			t.Fatalf("capacity overflows: %+v", n)
		}
		if _, err := DecodeNVMeController(data); err == nil && len(data) < 4096 {
			t.Fatalf("%d bytes accepted", len(data))
		}
	})
}

// FuzzDecodeSense: no panic; registers found survive a re-encoding into
// descriptor format; the SG_IO interpretation of the bytes never panics
// and never reports success with an ATA error status.
func FuzzDecodeSense(f *testing.F) {
	regs := &ATARegs{Status: 0x50, Device: 0x40, LBA: 0xC24F00}
	f.Add(descSense(1, 0, 0x1D, regs))
	f.Add(descSense(0xB, 0, 0, &ATARegs{Status: 0x51, Error: 4, Ext: true, Count: 0x1234, LBA: 1 << 47}))
	f.Add(fixedSense(0xB, 0, 0, &ATARegs{Status: 0x51, Error: 4}))
	f.Add(fixedSense(5, 0x20, 0, nil))
	f.Add([]byte{0x72, 0, 0, 0, 0, 0, 0, 0xFF, 0x09, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSense(data)
		if err == nil {
			if s.Key > 0xF {
				t.Fatalf("key %#x", s.Key)
			}
			if s.HasATA {
				r := s.ATA
				back, err := DecodeSense(descSense(s.Key, s.ASC, s.ASCQ, &r))
				if err != nil || !back.HasATA || back.ATA != s.ATA || back.Key != s.Key || back.ASC != s.ASC || back.ASCQ != s.ASCQ {
					t.Fatalf("re-encoded %+v → %+v %v", s, back, err)
				}
			}
		}
		for _, status := range []uint8{0, 2} {
			o := sgOutcome{status: status, driverStatus: sgDriverSense, sense: data}
			got, err := o.interpret(smartCmd(SMARTReturnStatus, true))
			if err == nil && got != nil && got.Status&(ataStatusERR|ataStatusDF) != 0 && status == 2 {
				t.Fatalf("success with ATA error status %#x", got.Status)
			}
		}
	})
}

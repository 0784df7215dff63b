package ipmi

import (
	"bytes"
	"testing"
)

// The decoders take bytes from the BMC (or a file); none may panic, and
// none may allocate more than a small multiple of its input.

func FuzzDecodeSELRecord(f *testing.F) {
	f.Add(qemuWatchdogEvent)
	f.Add([]byte{0x16, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x65, 0x57, 0x01, 0x00, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{0x17, 0x00, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{0x18, 0x00, 0x02, 0, 0, 0, 0, 0x41, 0, 4, 0x01, 0x30, 0x01, 0x59, 0x5a, 0x55})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSELRecord(b)
		if err != nil {
			return
		}
		_ = r.String()
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip % x -> % x", b, out)
		}
	})
}

func FuzzDecodeSDR(f *testing.F) {
	f.Add(qemuWatchdogSDR)
	f.Add(fullVoltageSDR)
	f.Add(append(append([]byte(nil), qemuWatchdogSDR...), fullVoltageSDR...))
	f.Add([]byte{9, 0, 0x51, 0x12, 2, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _ := DecodeSDRs(b)
		for _, r := range recs {
			if r.Sensor == nil {
				continue
			}
			s := *r.Sensor
			for _, x := range []byte{0, 0x7f, 0x80, 0xff} {
				_, _ = s.Convert(x)
			}
			_ = s.Evaluate(Reading{ScanningEnabled: true, Raw: 0x80, States: 0x3f})
			// A decoded record re-encodes (when its name fits as 8-bit
			// ASCII) and decodes to the same fields.
			enc, err := s.MarshalBinary()
			if err != nil {
				continue
			}
			r2, err := DecodeSDR(enc)
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if s.Version == 0 {
				s.Version = sdrVersion
			}
			if !equalSensor(*r2.Sensor, s) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", *r2.Sensor, s)
			}
		}
	})
}

func FuzzDecodeFRU(f *testing.F) {
	f.Add(goldenFRU(f))
	img, _ := EncodeFRU(FRU{Chassis: &ChassisInfo{Type: 1, Serial: "x"}, Board: &BoardInfo{Serial: "B"}, Product: &ProductInfo{Name: "P"}})
	f.Add(img)
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		fru, err := DecodeFRU(b)
		if err != nil {
			return
		}
		// Every string came out of b, so their total is bounded by it.
		n := 0
		count := func(ss ...string) {
			for _, s := range ss {
				n += len(s)
			}
		}
		if fru.Board != nil {
			count(fru.Board.Manufacturer, fru.Board.Product, fru.Board.Serial, fru.Board.PartNumber, fru.Board.FileID)
			count(fru.Board.Custom...)
		}
		if fru.Product != nil {
			count(fru.Product.Manufacturer, fru.Product.Name, fru.Product.Serial, fru.Product.AssetTag)
			count(fru.Product.Custom...)
		}
		if n > 4*len(b) {
			t.Fatalf("%d bytes of strings from %d bytes of input", n, len(b))
		}
	})
}

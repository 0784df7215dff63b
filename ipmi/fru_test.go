package ipmi

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"
)

// goldenFRU was built outside this package (a Python script following the
// Platform Management FRU Information Storage Definition v1.0): board area
// with an 8-bit manufacturer, a 6-bit packed product name, a BCD plus
// serial and mfg date 2020-01-01 (12623040 minutes since 1996); product
// area with an empty asset tag and a custom field.
const goldenFRUHex = "01000001050000f9010400c09cc0c44b656570857658b37404450123456789c5502d313030c0c126010800cc4b6565702053797374656d73cb4c6f63616c205661756c74c74c562d32303030c23220c6534e30303031c0c0c6637573746f6dc10000000000000076"

func goldenFRU(t testing.TB) []byte {
	b, err := hex.DecodeString(goldenFRUHex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeGoldenFRU(t *testing.T) {
	f, err := DecodeFRU(goldenFRU(t))
	if err != nil {
		t.Fatal(err)
	}
	wantBoard := BoardInfo{MfgDate: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Manufacturer: "Keep", Product: "VAULT1",
		Serial: "0123456789", PartNumber: "P-100"}
	if f.Board == nil || !reflect.DeepEqual(*f.Board, wantBoard) {
		t.Errorf("board = %+v\nwant %+v", f.Board, wantBoard)
	}
	wantProduct := ProductInfo{Manufacturer: "Keep Systems", Name: "Local Vault", PartNumber: "LV-2000", Version: "2 ",
		Serial: "SN0001", Custom: []string{"custom"}}
	if f.Product == nil || !reflect.DeepEqual(*f.Product, wantProduct) {
		t.Errorf("product = %+v\nwant %+v", f.Product, wantProduct)
	}
	if f.Chassis != nil {
		t.Errorf("chassis = %+v", f.Chassis)
	}
}

func TestDecodeFRUErrors(t *testing.T) {
	mod := func(i int, v byte) []byte {
		b := goldenFRU(t)
		b[i] = v
		return b
	}
	for name, tt := range map[string]struct {
		in   []byte
		want error
	}{
		"short":            {goldenFRU(t)[:7], ErrFRUShort},
		"header checksum":  {mod(7, 0), ErrFRUChecksum},
		"header version":   {mod(0, 2), ErrFRUFormat},
		"board checksum":   {mod(0x0a, 0x41), ErrFRUChecksum},
		"area past end":    {goldenFRU(t)[:40], ErrFRUShort},
		"all zeros (qemu)": {make([]byte, 1024), ErrFRUFormat},
	} {
		if _, err := DecodeFRU(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
}

func TestFRURoundTrip(t *testing.T) {
	in := FRU{
		Chassis: &ChassisInfo{Type: 0x17, PartNumber: "CH-1", Serial: "CSN", Custom: []string{"a", "bc"}},
		Board: &BoardInfo{MfgDate: time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC), Manufacturer: "Keep", Product: "Vault Board",
			Serial: "BSN-42", PartNumber: "PN", FileID: "f1"},
		Product: &ProductInfo{Manufacturer: "Keep", Name: "Local Vault LV-2", PartNumber: "LV-2", Version: "1.0",
			Serial: "PSN-7", AssetTag: "asset", FileID: "", Custom: []string{"Zürich"}},
	}
	img, err := EncodeFRU(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeFRU(img)
	if err != nil {
		t.Fatal(err)
	}
	// A one-character 8-bit field is padded so it is not the 0xC1 end marker.
	in.Chassis.Custom[0] = "a "
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v %+v %+v\nwant %+v %+v %+v", out.Chassis, out.Board, out.Product, in.Chassis, in.Board, in.Product)
	}
	if _, err := EncodeFRU(FRU{Board: &BoardInfo{Serial: string(make([]byte, 64))}}); err == nil {
		t.Error("64-byte field encoded")
	}
	if _, err := EncodeFRU(FRU{Board: &BoardInfo{MfgDate: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)}}); err == nil {
		t.Error("1990 mfg date encoded")
	}
	if _, err := EncodeFRU(FRU{Product: &ProductInfo{Name: "☃"}}); err == nil {
		t.Error("non-Latin-1 encoded")
	}
}

func TestTypeLength(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want string
		n    int
	}{
		{[]byte{0xc3, 'a', 'b', 'c', 0xff}, "abc", 4},
		{[]byte{0x42, 0x12, 0xab}, "12 -", 3},
		{[]byte{0x83, 0x29, 0xdc, 0xa6}, "IPMI", 4},
		{[]byte{0x02, 'h', 'i'}, "hi", 3},
		{[]byte{0x02, 0x00, 0x01}, "00 01", 3},
		{[]byte{0xc0}, "", 1},
	} {
		got, n, err := decodeTL(tt.in, 0x3f)
		if err != nil || got != tt.want || n != tt.n {
			t.Errorf("decodeTL(% x) = %q, %d, %v; want %q, %d", tt.in, got, n, err, tt.want, tt.n)
		}
	}
	if _, _, err := decodeTL([]byte{0xc5, 'a'}, 0x3f); !errors.Is(err, ErrFieldOverrun) {
		t.Errorf("overrun: %v", err)
	}
	p, err := pack6Bit("IPMI")
	if err != nil || hexs(p) != "29 dc a6" {
		t.Errorf("pack6Bit(IPMI) = % x, %v", p, err)
	}
	if _, err := pack6Bit("lower"); err == nil {
		t.Error("pack6Bit(lower) succeeded")
	}
}

func TestReadFRU(t *testing.T) {
	img := goldenFRU(t) // 104 bytes: header, board 8-39, product 40-103
	rd := func(off, n int) step {
		return ok(NetFnStorage, 0x11, []byte{0, byte(off), byte(off >> 8), byte(n)}, append([]byte{byte(n)}, img[off:off+n]...)...)
	}
	c, _ := newFake(t,
		ok(NetFnStorage, 0x10, []byte{0}, 0x00, 0x04, 0x00), // 1024 bytes, byte access
		rd(0, 8),
		rd(8, 2),
		rd(40, 2),
		rd(8, 32),
		cc(NetFnStorage, 0x11, []byte{0, 40, 0, 32}, 0xca),
		rd(40, 16),
		rd(56, 16),
		rd(72, 16),
		rd(88, 16),
		// QEMU with no frudatafile: zeros.
		ok(NetFnStorage, 0x10, []byte{0}, 0x00, 0x04, 0x00),
		ok(NetFnStorage, 0x11, []byte{0, 0, 0, 8}, 8, 0, 0, 0, 0, 0, 0, 0, 0),
		// No such FRU device.
		cc(NetFnStorage, 0x10, []byte{1}, 0xcc),
	)
	ctx := ctxT(t)
	f, raw, err := c.ReadFRU(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if hexs(raw) != hexs(img) || f.Board.Serial != "0123456789" || f.Product.Serial != "SN0001" {
		t.Errorf("ReadFRU = %+v %+v", f.Board, f.Product)
	}
	if _, _, err := c.ReadFRU(ctx, 0); !errors.Is(err, ErrFRUFormat) {
		t.Errorf("blank FRU: %v", err)
	}
	if _, _, err := c.ReadFRU(ctx, 1); !errors.Is(err, ErrInvalidDataField) {
		t.Errorf("missing FRU: %v", err)
	}
}

func TestReadFRUDataWords(t *testing.T) {
	c, _ := newFake(t,
		ok(NetFnStorage, 0x11, []byte{0, 2, 0, 2}, 2, 0xa, 0xb, 0xc, 0xd), // bytes 4..7 as words 2..3
		ok(NetFnStorage, 0x11, []byte{0, 0, 0, 1}, 0),                     // zero count
	)
	ctx := ctxT(t)
	info := FRUAreaInfo{Size: 64, ByWords: true}
	b, err := c.ReadFRUData(ctx, 0, info, 5, 3)
	if err != nil || hexs(b) != "0b 0c 0d" {
		t.Errorf("word read = % x, %v", b, err)
	}
	if _, err := c.ReadFRUData(ctx, 0, info, 0, 2); !errors.Is(err, ErrShortResponse) {
		t.Errorf("zero count: %v", err)
	}
	if _, err := c.ReadFRUData(ctx, 0, info, 60, 8); err == nil {
		t.Error("read past end succeeded")
	}
}

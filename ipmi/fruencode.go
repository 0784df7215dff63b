package ipmi

import (
	"fmt"
	"time"
)

// EncodeFRU builds a FRU image: common header, then the chassis, board
// and product areas that are set, each padded to 8 bytes with a zero-sum
// checksum; strings are 8-bit ASCII fields (at most 63 bytes). The result
// is what QEMU's ipmi-bmc-sim takes as frudatafile (raw bytes, padded by
// QEMU to fruareasize, default 1024).
func EncodeFRU(f FRU) ([]byte, error) {
	hdr := make([]byte, fruHeaderSize)
	hdr[0] = fruFormat
	img := hdr
	areas := []struct {
		slot   int
		name   string
		encode func() ([]byte, error)
	}{
		{2, "chassis info area", func() ([]byte, error) { return encodeChassis(*f.Chassis) }},
		{3, "board info area", func() ([]byte, error) { return encodeBoard(*f.Board) }},
		{4, "product info area", func() ([]byte, error) { return encodeProduct(*f.Product) }},
	}
	present := []bool{f.Chassis != nil, f.Board != nil, f.Product != nil}
	for i, a := range areas {
		if !present[i] {
			continue
		}
		area, err := a.encode()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.name, err)
		}
		if len(img)/8 > 0xff {
			return nil, fmt.Errorf("%s: starts past offset %d", a.name, 0xff*8)
		}
		img[a.slot] = byte(len(img) / 8)
		img = append(img, area...)
	}
	img[7] = checksum(img[:7])
	return img, nil
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// finishArea appends fields, the end marker, padding and checksum to
// the area prefix (version, length placeholder, …).
func finishArea(prefix []byte, fields []string) ([]byte, error) {
	a := prefix
	for _, s := range fields {
		b, err := encodeTL(s, fruFieldMax)
		if err != nil {
			return nil, err
		}
		a = append(a, b...)
	}
	a = append(a, fruEndOfFields)
	for (len(a)+1)%8 != 0 {
		a = append(a, 0)
	}
	a = append(a, 0)
	if len(a)/8 > 0xff {
		return nil, fmt.Errorf("area is %d bytes, at most %d", len(a), 0xff*8)
	}
	a[1] = byte(len(a) / 8)
	a[len(a)-1] = checksum(a[:len(a)-1])
	return a, nil
}

func encodeChassis(c ChassisInfo) ([]byte, error) {
	return finishArea([]byte{fruFormat, 0, c.Type}, append([]string{c.PartNumber, c.Serial}, c.Custom...))
}

func encodeBoard(b BoardInfo) ([]byte, error) {
	var m uint32
	if !b.MfgDate.IsZero() {
		d := b.MfgDate.Sub(fruEpoch)
		if d < time.Minute || d/time.Minute > 0xffffff {
			return nil, fmt.Errorf("manufacturing date %v outside 1996-01-01 + 2^24 minutes", b.MfgDate)
		}
		m = uint32(d / time.Minute)
	}
	prefix := []byte{fruFormat, 0, b.Language, byte(m), byte(m >> 8), byte(m >> 16)}
	return finishArea(prefix, append([]string{b.Manufacturer, b.Product, b.Serial, b.PartNumber, b.FileID}, b.Custom...))
}

func encodeProduct(p ProductInfo) ([]byte, error) {
	return finishArea([]byte{fruFormat, 0, p.Language},
		append([]string{p.Manufacturer, p.Name, p.PartNumber, p.Version, p.Serial, p.AssetTag, p.FileID}, p.Custom...))
}

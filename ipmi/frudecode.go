package ipmi

import (
	"errors"
	"fmt"
	"time"
)

const (
	fruHeaderSize  = 8
	fruFormat      = 0x01
	fruFieldMax    = 63
	fruEndOfFields = 0xc1
	// fruMaxFields bounds custom fields per area (an area is at most
	// 255*8 bytes, so this is never reached by valid data).
	fruMaxFields = 256
)

// fruEpoch is the zero of the board manufacturing date.
var fruEpoch = time.Date(1996, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors of FRU decoding.
var (
	ErrFRUChecksum = errors.New("ipmi: FRU checksum mismatch")
	ErrFRUFormat   = errors.New("ipmi: FRU format not supported")
	ErrFRUShort    = errors.New("ipmi: FRU data too short")
)

// FRU is a decoded FRU inventory: the common header's areas that this
// package understands. Nil areas are absent.
type FRU struct {
	Chassis *ChassisInfo
	Board   *BoardInfo
	Product *ProductInfo
}

// ChassisInfo is the Chassis Info Area.
type ChassisInfo struct {
	Type       byte
	PartNumber string
	Serial     string
	Custom     []string
}

// BoardInfo is the Board Info Area.
type BoardInfo struct {
	Language     byte
	MfgDate      time.Time // zero when unspecified
	Manufacturer string
	Product      string
	Serial       string
	PartNumber   string
	FileID       string
	Custom       []string
}

// ProductInfo is the Product Info Area.
type ProductInfo struct {
	Language     byte
	Manufacturer string
	Name         string
	PartNumber   string // part/model number
	Version      string
	Serial       string
	AssetTag     string
	FileID       string
	Custom       []string
}

// zeroSum reports whether b sums to 0 mod 256.
func zeroSum(b []byte) bool {
	var s byte
	for _, c := range b {
		s += c
	}
	return s == 0
}

// checkFRUHeader validates the common header at the start of data.
func checkFRUHeader(data []byte) error {
	if len(data) < fruHeaderSize {
		return fmt.Errorf("%w: %d bytes, header needs 8", ErrFRUShort, len(data))
	}
	h := data[:fruHeaderSize]
	if h[0]&0x0f != fruFormat {
		return fmt.Errorf("%w: header version %#02x", ErrFRUFormat, h[0])
	}
	if !zeroSum(h) {
		return fmt.Errorf("common header: %w", ErrFRUChecksum)
	}
	return nil
}

// DecodeFRU decodes a FRU image (as read from the BMC or a frudatafile).
// A bad common header is an error; a bad area is an error naming it.
// Multi-record and internal use areas are skipped.
func DecodeFRU(data []byte) (FRU, error) {
	if err := checkFRUHeader(data); err != nil {
		return FRU{}, err
	}
	var f FRU
	area := func(i int) ([]byte, error) {
		off := int(data[i]) * 8
		if off == 0 {
			return nil, nil
		}
		if off+2 > len(data) {
			return nil, fmt.Errorf("%w: area at %d past end %d", ErrFRUShort, off, len(data))
		}
		if data[off]&0x0f != fruFormat {
			return nil, fmt.Errorf("%w: area version %#02x", ErrFRUFormat, data[off])
		}
		n := int(data[off+1]) * 8
		if n < 3 || off+n > len(data) {
			return nil, fmt.Errorf("%w: area at %d length %d, have %d", ErrFRUShort, off, n, len(data))
		}
		a := data[off : off+n]
		if !zeroSum(a) {
			return nil, ErrFRUChecksum
		}
		return a, nil
	}
	if a, err := area(2); err != nil {
		return FRU{}, fmt.Errorf("chassis info area: %w", err)
	} else if a != nil {
		c, err := decodeChassis(a)
		if err != nil {
			return FRU{}, fmt.Errorf("chassis info area: %w", err)
		}
		f.Chassis = &c
	}
	if a, err := area(3); err != nil {
		return FRU{}, fmt.Errorf("board info area: %w", err)
	} else if a != nil {
		b, err := decodeBoard(a)
		if err != nil {
			return FRU{}, fmt.Errorf("board info area: %w", err)
		}
		f.Board = &b
	}
	if a, err := area(4); err != nil {
		return FRU{}, fmt.Errorf("product info area: %w", err)
	} else if a != nil {
		p, err := decodeProduct(a)
		if err != nil {
			return FRU{}, fmt.Errorf("product info area: %w", err)
		}
		f.Product = &p
	}
	return f, nil
}

// fruFields reads fixed fields then custom fields up to the 0xC1 marker.
func fruFields(b []byte, fixed int) ([]string, []string, error) {
	var out, custom []string
	for i := 0; i < fixed+fruMaxFields; i++ {
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: no end-of-fields marker", ErrFieldOverrun)
		}
		if b[0] == fruEndOfFields {
			if len(out) < fixed {
				return nil, nil, fmt.Errorf("%w: %d of %d fields before end marker", ErrFRUShort, len(out), fixed)
			}
			return out, custom, nil
		}
		s, n, err := decodeTL(b, 0x3f)
		if err != nil {
			return nil, nil, err
		}
		if len(out) < fixed {
			out = append(out, s)
		} else {
			custom = append(custom, s)
		}
		b = b[n:]
	}
	return nil, nil, fmt.Errorf("%w: too many fields", ErrFRUFormat)
}

func decodeChassis(a []byte) (ChassisInfo, error) {
	v, custom, err := fruFields(a[3:len(a)-1], 2)
	if err != nil {
		return ChassisInfo{}, err
	}
	return ChassisInfo{Type: a[2], PartNumber: v[0], Serial: v[1], Custom: custom}, nil
}

func decodeBoard(a []byte) (BoardInfo, error) {
	if len(a) < 7 {
		return BoardInfo{}, ErrFRUShort
	}
	v, custom, err := fruFields(a[6:len(a)-1], 5)
	if err != nil {
		return BoardInfo{}, err
	}
	b := BoardInfo{Language: a[2], Manufacturer: v[0], Product: v[1], Serial: v[2], PartNumber: v[3], FileID: v[4], Custom: custom}
	if m := uint32(a[3]) | uint32(a[4])<<8 | uint32(a[5])<<16; m != 0 {
		b.MfgDate = fruEpoch.Add(time.Duration(m) * time.Minute)
	}
	return b, nil
}

func decodeProduct(a []byte) (ProductInfo, error) {
	v, custom, err := fruFields(a[3:len(a)-1], 7)
	if err != nil {
		return ProductInfo{}, err
	}
	return ProductInfo{Language: a[2], Manufacturer: v[0], Name: v[1], PartNumber: v[2], Version: v[3],
		Serial: v[4], AssetTag: v[5], FileID: v[6], Custom: custom}, nil
}

package ipmi

import (
	"errors"
	"fmt"
	"strings"
)

// Type/length encoded strings, shared by FRU fields (length in bits 5:0)
// and SDR id strings (length in bits 4:0). Type is bits 7:6.
const (
	tlBinary = 0 // FRU: binary/unspecified; SDR: unicode
	tlBCD    = 1 // BCD plus
	tl6Bit   = 2 // 6-bit ASCII, packed
	tl8Bit   = 3 // 8-bit ASCII + Latin-1
)

// ErrFieldOverrun means a type/length byte claims more bytes than remain.
var ErrFieldOverrun = errors.New("ipmi: field runs past end of data")

const bcdPlusChars = "0123456789 -.:,_"

// decodeTL decodes one type/length field from b. It returns the text and
// the bytes consumed (1 + length).
func decodeTL(b []byte, lenMask byte) (string, int, error) {
	if len(b) == 0 {
		return "", 0, ErrFieldOverrun
	}
	typ, n := b[0]>>6, int(b[0]&lenMask)
	if 1+n > len(b) {
		return "", 0, fmt.Errorf("%w: type/length %#02x with %d bytes left", ErrFieldOverrun, b[0], len(b)-1)
	}
	data := b[1 : 1+n]
	switch typ {
	case tlBCD:
		var s strings.Builder
		for _, c := range data {
			s.WriteByte(bcdPlusChars[c>>4])
			s.WriteByte(bcdPlusChars[c&0x0f])
		}
		return s.String(), 1 + n, nil
	case tl6Bit:
		return unpack6Bit(data), 1 + n, nil
	case tl8Bit:
		return latin1(data), 1 + n, nil
	}
	// Binary (FRU) or unicode (SDR): text if it is plain ASCII, else hex.
	for _, c := range data {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("% x", data), 1 + n, nil
		}
	}
	return string(data), 1 + n, nil
}

func latin1(b []byte) string {
	r := make([]rune, 0, len(b))
	for _, c := range b {
		r = append(r, rune(c))
	}
	return strings.TrimRight(string(r), "\x00")
}

// unpack6Bit unpacks 6-bit ASCII: four characters (0x20 + value) in three
// bytes, least significant bits first.
func unpack6Bit(b []byte) string {
	var s strings.Builder
	var acc uint32
	bits := 0
	for _, c := range b {
		acc |= uint32(c) << bits
		bits += 8
		for bits >= 6 {
			s.WriteByte(byte(acc&0x3f) + 0x20)
			acc >>= 6
			bits -= 6
		}
	}
	return strings.TrimRight(s.String(), " ")
}

// pack6Bit is the inverse of unpack6Bit for characters 0x20-0x5f.
func pack6Bit(s string) ([]byte, error) {
	var out []byte
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x5f {
			return nil, fmt.Errorf("%q not encodable as 6-bit ASCII", c)
		}
		acc |= uint32(c-0x20) << bits
		bits += 6
		for bits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			bits -= 8
		}
	}
	if bits > 0 {
		out = append(out, byte(acc))
	}
	return out, nil
}

// encodeTL encodes s as an 8-bit ASCII/Latin-1 field (type 11b); maxLen
// is the field's length limit (63 for FRU, 16 for SDR ids).
func encodeTL(s string, maxLen int) ([]byte, error) {
	b := make([]byte, 0, len(s)+1)
	b = append(b, 0)
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("%q: %q is not Latin-1", s, r)
		}
		b = append(b, byte(r))
	}
	n := len(b) - 1
	if n > maxLen {
		return nil, fmt.Errorf("%q: %d bytes, at most %d", s, n, maxLen)
	}
	// A one-byte 8-bit field would be 0xC1, the FRU end marker; pad it.
	if n == 1 && maxLen == fruFieldMax {
		b = append(b, ' ')
		n = 2
	}
	b[0] = tl8Bit<<6 | byte(n)
	return b, nil
}

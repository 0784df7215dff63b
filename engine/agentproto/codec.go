package agentproto

import (
	"encoding/binary"
	"fmt"

	"keep/engine/fingerprint"
)

// Encoding primitives: integers big-endian and fixed size; a string or
// short byte string is a u16 length and its bytes; a long byte string a
// u32 length and its bytes; a fingerprint 32 raw bytes.

func appendStr(b []byte, s string) []byte {
	s = Truncate(s)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes16(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes32(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendIDs appends a u32 count and the IDs.
func appendIDs(b []byte, ids []fingerprint.ID) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// dec reads a payload; the first error sticks and later reads return
// zero values, so decoders check d.err once, at the end (finish).
type dec struct {
	b   []byte
	err error
	msg Type
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %v: %s", ErrFrame, d.msg, fmt.Sprintf(format, args...))
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s: needs %d bytes, %d left", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) u8(what string) uint8 {
	p := d.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *dec) u16(what string) uint16 {
	p := d.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (d *dec) u32(what string) uint32 {
	p := d.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *dec) u64(what string) uint64 {
	p := d.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *dec) boolean(what string) bool {
	switch v := d.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("%s: boolean byte %d", what, v)
		return false
	}
}

func (d *dec) id(what string) fingerprint.ID {
	var id fingerprint.ID
	copy(id[:], d.take(fingerprint.Size, what))
	return id
}

// ids reads a u32 count of at most max IDs and the IDs (nil on error).
func (d *dec) ids(max int) []fingerprint.ID {
	n := d.count("IDs", max, fingerprint.Size)
	if d.err != nil {
		return nil
	}
	ids := make([]fingerprint.ID, n)
	for i := range ids {
		ids[i] = d.id("ID")
	}
	return ids
}

func (d *dec) key(what string) [32]byte {
	var k [32]byte
	copy(k[:], d.take(32, what))
	return k
}

// str reads a u16-prefixed string of at most max bytes.
func (d *dec) str(what string, max int) string {
	n := int(d.u16(what))
	if d.err == nil && n > max {
		d.fail("%s: %d bytes, limit %d", what, n, max)
		return ""
	}
	return string(d.take(n, what))
}

// bytes16 reads a u16-prefixed byte string of at most max bytes; it
// aliases the payload.
func (d *dec) bytes16(what string, max int) []byte {
	n := int(d.u16(what))
	if d.err == nil && n > max {
		d.fail("%s: %d bytes, limit %d", what, n, max)
		return nil
	}
	return d.take(n, what)
}

// bytes32 reads a u32-prefixed byte string of at most max bytes; it
// aliases the payload.
func (d *dec) bytes32(what string, max int) []byte {
	n := d.u32(what)
	if d.err == nil && int64(n) > int64(max) {
		d.fail("%s: %d bytes, limit %d", what, n, max)
		return nil
	}
	return d.take(int(n), what)
}

// count reads a u32 element count, at most max, each element taking at
// least minSize bytes: the check against what is left comes before any
// allocation the caller makes for the elements.
func (d *dec) count(what string, max, minSize int) int {
	n := d.u32(what)
	if d.err != nil {
		return 0
	}
	if int64(n) > int64(max) {
		d.fail("%s: count %d, limit %d", what, n, max)
		return 0
	}
	if int64(n)*int64(minSize) > int64(len(d.b)) {
		d.fail("%s: count %d does not fit in %d bytes", what, n, len(d.b))
		return 0
	}
	return int(n)
}

// rest returns what is left of the payload (aliasing it).
func (d *dec) rest() []byte {
	if d.err != nil {
		return nil
	}
	p := d.b
	d.b = nil
	return p
}

// finish is the decoder's verdict: the sticky error, or trailing bytes.
func (d *dec) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

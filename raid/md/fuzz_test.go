package md

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever decodes must
// re-encode to exactly the bytes it came from (so Keep can rewrite a
// superblock it read without changing what it does not understand).
func FuzzDecode(f *testing.F) {
	sb := sample(f, 0)
	b, _ := sb.Encode()
	f.Add(b)
	sb.DevRoles = sb.DevRoles[:7]
	b, _ = sb.Encode()
	f.Add(b)
	f.Add(make([]byte, 256))
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip(t, data)
		// Random bytes almost never carry a valid checksum; reseal a copy
		// (magic, version, csum) so the field checks get explored too.
		if len(data) >= HeaderSize {
			b := append([]byte(nil), data...)
			binary.LittleEndian.PutUint32(b[0:], Magic)
			binary.LittleEndian.PutUint32(b[4:], MajorVersion)
			n := HeaderSize + 2*int(binary.LittleEndian.Uint32(b[220:])%(MaxDevs+1))
			if n <= len(b) {
				binary.LittleEndian.PutUint32(b[csumOffset:], Checksum(b[:n]))
			}
			roundTrip(t, b)
		}
	})
}

func roundTrip(t *testing.T, data []byte) {
	sb, err := Decode(data)
	if err != nil {
		return
	}
	again, err := sb.Encode()
	if err != nil {
		t.Fatalf("decoded superblock does not encode: %v", err)
	}
	if !bytes.Equal(again, data[:len(again)]) {
		t.Fatalf("re-encoding differs")
	}
}

// FuzzDecodeBitmap: the same property for the bitmap superblock.
func FuzzDecodeBitmap(f *testing.F) {
	bm := sampleBitmap()
	b, _ := bm.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		bm, err := DecodeBitmap(data)
		if err != nil {
			return
		}
		again, err := bm.Encode()
		if err != nil {
			t.Fatalf("decoded bitmap does not encode: %v", err)
		}
		if !bytes.Equal(again, data[:BitmapHeaderSize]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

package md

import (
	"bytes"
	"io"
	"testing"
)

var ioEOF = io.EOF

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
	})
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

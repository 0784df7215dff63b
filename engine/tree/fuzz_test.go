package tree

import (
	"bytes"
	"testing"

	"keep/engine/fingerprint"
)

func FuzzDecode(f *testing.F) {
	good, _ := EncodeNodes(sample())
	f.Add(good)
	img, _ := EncodeNodes([]Node{{Name: "disk", Type: Image, Rdev: 2049, Size: 9, Content: []Extent{{ID: id("i"), Length: 9}}}})
	f.Add(img)
	f.Add(encodeExtents([]Extent{{ID: id("a"), Length: 5}, {Hole: true, Length: 7}}))
	f.Add(encodeParts([]fingerprint.ID{id("a"), id("b")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		blob, err := Decode(b)
		if err != nil {
			return
		}
		var re []byte
		switch blob.Kind {
		case KindNodes:
			if re, err = EncodeNodes(blob.Nodes); err != nil {
				t.Fatalf("decoded nodes do not encode: %v", err)
			}
		case KindParts:
			re = encodeParts(blob.Parts)
		case KindExtents:
			re = encodeExtents(blob.Extents)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("accepted bytes do not re-encode identically:\n%x\n%x", b, re)
		}
	})
}

package tree

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestImageVersion: a directory with an Image node is a version 2 blob
// and round-trips; one without stays version 1, byte for byte what the
// version 1 writer made; versions that do not match the nodes are
// rejected, as are Image nodes with fields of other types.
func TestImageVersion(t *testing.T) {
	img := Node{Name: "zimg", Type: Image, Mode: 0o660, Rdev: 8 << 8, Size: 1<<20 + 5, MTime: 3,
		Content: []Extent{{ID: id("i1"), Length: 1 << 20}, {Hole: true, Length: 5}}}
	withImage := append(sample(), img)
	b, err := EncodeNodes(withImage)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 2 {
		t.Fatalf("version %d for a directory with an image", b[0])
	}
	blob, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(blob.Nodes, withImage) {
		t.Fatal("image node differs after a round trip")
	}
	old, err := EncodeNodes(sample())
	if err != nil {
		t.Fatal(err)
	}
	if old[0] != 1 {
		t.Fatalf("version %d for a directory without images", old[0])
	}
	for name, bad := range map[string][]byte{
		"v1 with image":  append([]byte{1}, b[1:]...),
		"v2 without":     append([]byte{2}, old[1:]...),
		"v3":             append([]byte{3}, b[1:]...),
		"v2 extents":     append([]byte{2}, encodeExtents([]Extent{{ID: id("a"), Length: 1}})[1:]...),
		"v2 parts":       append([]byte{2}, encodeParts(nil)[1:]...),
		"image with sym": mustEncodeRaw(t, Node{Name: "x", Type: Image, LinkTarget: "y"}),
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	if Image.String() != "image" || !Image.HasContent() || Dir.HasContent() {
		t.Fatal("Image type helpers")
	}
}

// mustEncodeRaw encodes a node without validating it (appendNode would
// refuse it), as a hostile writer could.
func mustEncodeRaw(t *testing.T, n Node) []byte {
	t.Helper()
	b := []byte{2, byte(KindNodes), 1}
	b = appendString(b, n.Name)
	b = append(b, byte(n.Type))
	b = append(b, make([]byte, 14)...) // mode … rdev, all zero
	b = appendString(b, n.LinkTarget)
	return append(b, 0, 0, 0)
}

// TestImageSplit: a large directory split into parts writes each part in
// the version its own nodes need, and Load joins them.
func TestImageSplit(t *testing.T) {
	ctx := context.Background()
	st := newMemStore(t)
	s := &Saver{Store: st, MaxBlob: 512}
	var nodes []Node
	for i := range 40 {
		n := Node{Name: string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: File, Mode: 0o644}
		if i == 39 {
			n.Type, n.Size, n.Content = Image, 7, []Extent{{ID: id("z"), Length: 7}}
		}
		nodes = append(nodes, n)
	}
	tid, err := s.Save(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, st, tid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nodes) {
		t.Fatal("split directory with an image differs")
	}
	var v1, v2 int
	for _, b := range st.blobs {
		switch {
		case b[0] == 1:
			v1++
		case b[0] == 2 && bytes.Contains(b, []byte("\x02bn")):
			v2++
		default:
			t.Fatalf("unexpected blob version %d", b[0])
		}
	}
	if v2 != 1 || v1 < 2 {
		t.Fatalf("%d version 1 and %d version 2 blobs", v1, v2)
	}
}

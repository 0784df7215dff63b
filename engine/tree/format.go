package tree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"keep/engine/fingerprint"
)

// Version is the newest tree blob format version: a KindNodes blob is
// written as version 2 when one of its nodes is an Image, as version 1
// otherwise (so every tree an older writer made encodes, and dedups,
// exactly as before); KindParts and KindExtents blobs are always version 1.
const Version = 2

// blobVersion is the version a KindNodes blob of nodes is written as.
func blobVersion(nodes []Node) byte {
	v := byte(1)
	for i := range nodes {
		v = max(v, nodes[i].Type.minVersion())
	}
	return v
}

// Kind is what a tree blob holds.
type Kind uint8

// Blob kinds. The numbers are part of the format.
const (
	KindNodes   Kind = 0 // a directory's nodes (or one part of them)
	KindParts   Kind = 1 // the IDs of a large directory's KindNodes parts
	KindExtents Kind = 2 // a piece of one long file's content list
)

// ErrFormat: the bytes are not a valid tree blob.
var ErrFormat = errors.New("invalid tree blob")

// Blob is a decoded tree blob: one of Nodes, Parts, Extents, by Kind.
type Blob struct {
	Kind    Kind
	Nodes   []Node
	Parts   []fingerprint.ID
	Extents []Extent
}

// Minimum encoded sizes, which bound every count before allocating.
const (
	minNode   = 1 + 1 + 1 + 3 + 2 + 1 + 3 + 4 + 1 + 3 // name … counts
	minExtent = 2
)

const (
	tagChunk = 0
	tagHole  = 1
)

// EncodeNodes encodes the nodes of one directory (or part of one) as a
// KindNodes blob. Nodes must be sorted by name, names unique, and each
// valid; the encoding is deterministic.
func EncodeNodes(nodes []Node) ([]byte, error) {
	b := []byte{blobVersion(nodes), byte(KindNodes)}
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for i := range nodes {
		if i > 0 && nodes[i-1].Name >= nodes[i].Name {
			return nil, fmt.Errorf("tree: nodes not sorted and unique at %q", nodes[i].Name)
		}
		var err error
		if b, err = appendNode(b, &nodes[i]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// encodeParts encodes a KindParts blob.
func encodeParts(ids []fingerprint.ID) []byte {
	b := []byte{1, byte(KindParts)}
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// encodeExtents encodes a KindExtents blob.
func encodeExtents(es []Extent) []byte {
	b := []byte{1, byte(KindExtents)}
	b = binary.AppendUvarint(b, uint64(len(es)))
	return appendExtents(b, es)
}

func appendNode(b []byte, n *Node) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	b = appendString(b, n.Name)
	b = append(b, byte(n.Type))
	b = binary.AppendUvarint(b, uint64(n.Mode))
	b = binary.AppendUvarint(b, uint64(n.UID))
	b = binary.AppendUvarint(b, uint64(n.GID))
	b = appendString(b, n.User)
	b = appendString(b, n.Group)
	b = binary.AppendUvarint(b, n.Size)
	b = binary.AppendVarint(b, n.MTime)
	b = binary.AppendVarint(b, n.CTime)
	b = binary.AppendVarint(b, n.ATime)
	b = binary.AppendUvarint(b, n.Inode)
	b = binary.AppendUvarint(b, n.Device)
	b = binary.AppendUvarint(b, n.Links)
	b = binary.AppendUvarint(b, n.Rdev)
	b = appendString(b, n.LinkTarget)
	b = binary.AppendUvarint(b, uint64(len(n.Xattrs)))
	for _, x := range n.Xattrs {
		b = appendString(b, x.Name)
		b = appendString(b, string(x.Value))
	}
	b = binary.AppendUvarint(b, uint64(len(n.Content)))
	b = appendExtents(b, n.Content)
	b = binary.AppendUvarint(b, uint64(len(n.ContentBlobs)))
	for _, id := range n.ContentBlobs {
		b = append(b, id[:]...)
	}
	if n.Type == Dir {
		b = append(b, n.Subtree[:]...)
	}
	return b, nil
}

func appendExtents(b []byte, es []Extent) []byte {
	for _, e := range es {
		if e.Hole {
			b = append(b, tagHole)
		} else {
			b = append(b, tagChunk)
			b = append(b, e.ID[:]...)
		}
		b = binary.AppendUvarint(b, e.Length)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode decodes a tree blob strictly: the version, kind, every count and
// length (checked against the bytes left before anything is allocated),
// minimal varints, the nodes' validity and order, and no trailing bytes.
// Any bytes it accepts re-encode to themselves. Errors wrap ErrFormat.
func Decode(b []byte) (*Blob, error) {
	blob, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return blob, nil
}

func decode(b []byte) (*Blob, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != 1 && v != 2 {
		return nil, errors.Join(d.err, fmt.Errorf("version %d", v))
	}
	blob := &Blob{Kind: Kind(d.byte())}
	if d.err != nil {
		return nil, d.err
	}
	if v != 1 && blob.Kind != KindNodes {
		return nil, fmt.Errorf("kind %d in version %d", blob.Kind, v)
	}
	switch blob.Kind {
	case KindNodes:
		n := d.count(minNode)
		if d.err != nil {
			return nil, d.err
		}
		blob.Nodes = make([]Node, n)
		for i := range blob.Nodes {
			nd := &blob.Nodes[i]
			d.node(nd)
			if d.err != nil {
				return nil, d.err
			}
			if err := nd.validate(); err != nil {
				return nil, err
			}
			if i > 0 && blob.Nodes[i-1].Name >= nd.Name {
				return nil, fmt.Errorf("nodes not sorted and unique at %q", nd.Name)
			}
		}
		// Canonical: the version is the one the nodes need.
		if want := blobVersion(blob.Nodes); v != want {
			return nil, fmt.Errorf("version %d for nodes that need version %d", v, want)
		}
	case KindParts:
		n := d.count(fingerprint.Size)
		if d.err == nil && n < 2 {
			return nil, fmt.Errorf("%d parts", n)
		}
		blob.Parts = d.ids(n)
	case KindExtents:
		n := d.count(minExtent)
		if d.err == nil && n == 0 {
			return nil, errors.New("empty extent list")
		}
		blob.Extents = d.extents(n)
		if d.err == nil {
			if _, err := ExtentsSize(blob.Extents); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("kind %d", blob.Kind)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return blob, nil
}

// decoder reads from b; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint() // zigzag, as binary.AppendVarint writes it
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail("value %d exceeds 32 bits", v)
		return 0
	}
	return uint32(v)
}

// count reads a count of items of at least min bytes each and checks it
// against the bytes left.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)/min) {
		d.fail("count %d exceeds the %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(limit int) []byte {
	v := d.uvarint()
	if d.err != nil {
		return nil
	}
	if v > uint64(limit) || v > uint64(len(d.b)) {
		d.fail("length %d exceeds the limit %d or the %d bytes left", v, limit, len(d.b))
		return nil
	}
	s := d.b[:v:v]
	d.b = d.b[v:]
	return s
}

func (d *decoder) string(limit int) string { return string(d.bytes(limit)) }

func (d *decoder) id() fingerprint.ID {
	var id fingerprint.ID
	if len(d.b) < len(id) {
		d.fail("truncated ID")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[len(id):]
	return id
}

func (d *decoder) ids(n int) []fingerprint.ID {
	if d.err != nil || n == 0 {
		return nil
	}
	ids := make([]fingerprint.ID, n)
	for i := range ids {
		ids[i] = d.id()
	}
	return ids
}

func (d *decoder) extents(n int) []Extent {
	if d.err != nil || n == 0 {
		return nil
	}
	es := make([]Extent, n)
	for i := range es {
		switch tag := d.byte(); tag {
		case tagChunk:
			es[i].ID = d.id()
		case tagHole:
			es[i].Hole = true
		default:
			d.fail("extent tag %d", tag)
		}
		es[i].Length = d.uvarint()
	}
	return es
}

func (d *decoder) node(n *Node) {
	n.Name = d.string(MaxName)
	n.Type = Type(d.byte())
	n.Mode = d.u32()
	n.UID = d.u32()
	n.GID = d.u32()
	n.User = d.string(MaxName)
	n.Group = d.string(MaxName)
	n.Size = d.uvarint()
	n.MTime = d.varint()
	n.CTime = d.varint()
	n.ATime = d.varint()
	n.Inode = d.uvarint()
	n.Device = d.uvarint()
	n.Links = d.uvarint()
	n.Rdev = d.uvarint()
	n.LinkTarget = d.string(MaxLinkTarget)
	if nx := d.count(2); nx > MaxXattrs {
		d.fail("%d xattrs", nx)
	} else if nx > 0 && d.err == nil {
		n.Xattrs = make([]Xattr, nx)
		for i := range n.Xattrs {
			n.Xattrs[i].Name = d.string(MaxXattrName)
			n.Xattrs[i].Value = bytes.Clone(d.bytes(MaxXattrValue))
		}
	}
	n.Content = d.extents(d.count(minExtent))
	n.ContentBlobs = d.ids(d.count(fingerprint.Size))
	if n.Type == Dir {
		n.Subtree = d.id()
	}
}

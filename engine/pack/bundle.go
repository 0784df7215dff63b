package pack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// Bundles: small blobs of one type sealed together. Sealed one by one, a
// 20 KiB file compresses with no context and pays a zstd frame and its
// entropy tables each time; sealed in 1 MiB bundles, the small files of the
// benchmark's file-server tree store 14 % smaller at the same zstd level.
//
// A bundle is one sealed object in the blob region, sealed as
// TypeDataBundle with the zero ID under the chunk key (bundles hold Data
// blobs only). Its plaintext is
//
//	member 0 | member 1 | … | member n-1 | table | table length (u32 LE)
//	table: count (uvarint) | count × (ID (32) | length (uvarint))
//
// members concatenated in table order. The pack header lists every member
// as a blob of its own whose Offset is the bundle's and whose Length is the
// bundle's sealed length with the Bundled bit set, so the index (which
// copies header entries) sends a reader to the bundle, and the reader finds
// the member in the bundle's table. A bundle's members are consecutive
// header entries.

// Bundled is the flag in Blob.Length of a member of a bundle; the rest of
// Length is the bundle's sealed length. Sealed blobs are far below 2 GiB
// (seal.MaxSize), so the bit is otherwise unused.
const Bundled uint32 = 1 << 31

// TypeDataBundle is the seal type of bundles of Data blobs.
const TypeDataBundle seal.Type = 20

// Bundle limits.
const (
	// MaxBundleMembers is the most blobs one bundle holds.
	MaxBundleMembers = 4096
	// MaxBundleSize bounds a bundle's plaintext, which a reader holds
	// whole in memory.
	MaxBundleSize = 16 << 20
)

// Sealed returns the sealed length of b's blob, or of its bundle.
func (b Blob) Sealed() uint32 { return b.Length &^ Bundled }

// InBundle reports whether b is a member of a bundle.
func (b Blob) InBundle() bool { return b.Length&Bundled != 0 }

// Member is a blob within a bundle's plaintext.
type Member struct {
	ID          fingerprint.ID
	Offset, Len uint32 // in the bundle's plaintext
}

// A Bundler collects small blobs into a bundle plaintext. The zero value is
// an empty bundle. It is not safe for concurrent use.
type Bundler struct {
	data    []byte
	members []Member
}

// Add appends the blob id with plaintext data.
func (b *Bundler) Add(id fingerprint.ID, data []byte) {
	b.members = append(b.members, Member{ID: id, Offset: uint32(len(b.data)), Len: uint32(len(data))})
	b.data = append(b.data, data...)
}

// Grow makes room for n more bytes of members without reallocating (a
// bundle filled to a known size is then allocated once, not doubled).
func (b *Bundler) Grow(n int) { b.data = slices.Grow(b.data, n) }

// Len returns the number of members; Size their bytes.
func (b *Bundler) Len() int  { return len(b.members) }
func (b *Bundler) Size() int { return len(b.data) }

// Members returns the members added (the Bundler's slice).
func (b *Bundler) Members() []Member { return b.members }

// Plaintext appends the table to the members' bytes and returns the
// bundle's plaintext; it aliases the Bundler's buffer until Reset.
func (b *Bundler) Plaintext() []byte {
	start := len(b.data)
	p := binary.AppendUvarint(b.data, uint64(len(b.members)))
	for _, m := range b.members {
		p = append(p, m.ID[:]...)
		p = binary.AppendUvarint(p, uint64(m.Len))
	}
	p = binary.LittleEndian.AppendUint32(p, uint32(len(p)-start))
	b.data = p[:start] // the table is rebuilt by each call
	return p
}

// Reset empties the Bundler, keeping its buffers.
func (b *Bundler) Reset() {
	b.data = b.data[:0]
	b.members = b.members[:0]
}

// ParseBundle returns the members of a bundle plaintext, in table order,
// checking that they tile the member region exactly. Damage is ErrCorrupt.
func ParseBundle(p []byte) ([]Member, error) {
	if len(p) < 5 {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrCorrupt, len(p))
	}
	tlen := binary.LittleEndian.Uint32(p[len(p)-4:])
	if uint64(tlen) > uint64(len(p)-4) {
		return nil, fmt.Errorf("%w: bundle table of %d bytes in %d", ErrCorrupt, tlen, len(p))
	}
	region := uint64(len(p) - 4 - int(tlen))
	t := p[region : len(p)-4]
	n, k := binary.Uvarint(t)
	if k <= 0 || n == 0 || n > MaxBundleMembers || n*(fingerprint.Size+1) > uint64(len(t)-k) {
		return nil, fmt.Errorf("%w: bundle table lists %d members in %d bytes", ErrCorrupt, n, len(t))
	}
	t = t[k:]
	ms := make([]Member, n)
	var off uint64
	for i := range ms {
		if len(t) < fingerprint.Size+1 {
			return nil, fmt.Errorf("%w: bundle table ends at member %d", ErrCorrupt, i)
		}
		copy(ms[i].ID[:], t)
		l, k := binary.Uvarint(t[fingerprint.Size:])
		if k <= 0 || l > region-off {
			return nil, fmt.Errorf("%w: bundle member %d: length past the member region", ErrCorrupt, i)
		}
		t = t[fingerprint.Size+k:]
		ms[i].Offset, ms[i].Len = uint32(off), uint32(l)
		off += l
	}
	if len(t) != 0 || off != region {
		return nil, fmt.Errorf("%w: bundle members cover %d of %d bytes, %d table bytes left", ErrCorrupt, off, region, len(t))
	}
	return ms, nil
}

// BundleIndex finds members of a parsed bundle by ID.
type BundleIndex []Member

// NewBundleIndex sorts members by ID for Find.
func NewBundleIndex(ms []Member) BundleIndex {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Member) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return ms
}

// Find returns the member id.
func (x BundleIndex) Find(id fingerprint.ID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(x, id, func(m Member, id fingerprint.ID) int { return bytes.Compare(m.ID[:], id[:]) })
	if !ok {
		return Member{}, false
	}
	return x[i], true
}

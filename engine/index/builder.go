package index

import (
	"fmt"
	"slices"

	"keep/engine/pack"
)

// A Builder collects index entries in bulk, as when a repository loads its
// index files at open, and sorts them once into an Index. Packs named by
// several files get one number. It is not safe for concurrent use.
type Builder struct {
	packs   []pack.ID
	packNum map[pack.ID]uint32
	entries []entry
}

// NewBuilder returns a Builder with room for about sizeHint entries.
func NewBuilder(sizeHint int) *Builder {
	return &Builder{packNum: map[pack.ID]uint32{}, entries: make([]entry, 0, max(sizeHint, 0))}
}

func (b *Builder) number(p pack.ID) (uint32, error) {
	if n, ok := b.packNum[p]; ok {
		return n, nil
	}
	if len(b.packs) >= MaxPacks {
		return 0, fmt.Errorf("index pack %s: %w: more than %d packs", p.Short(), ErrInvalid, MaxPacks)
	}
	n := uint32(len(b.packs))
	b.packs = append(b.packs, p)
	b.packNum[p] = n
	return n, nil
}

// HasPack reports whether pack p was added (by AddFile or AddPack).
func (b *Builder) HasPack(p pack.ID) bool {
	_, ok := b.packNum[p]
	return ok
}

// Packs returns the packs added, in the order they were first seen.
func (b *Builder) Packs() []pack.ID { return slices.Clone(b.packs) }

// CountBlobs adds to counts[p], for every pack p that counts has, the
// number of entries added for p.
func (b *Builder) CountBlobs(counts map[pack.ID]int) {
	if len(counts) == 0 {
		return
	}
	per := make([]int, len(b.packs))
	for _, e := range b.entries {
		per[e.pack()]++
	}
	for p := range counts {
		if n, ok := b.packNum[p]; ok {
			counts[p] += per[n]
		}
	}
}

// AddFile adds the entries of an index file (decoded by DecodeFile, so
// its references are valid).
func (b *Builder) AddFile(f *File) error {
	nums := make([]uint32, len(f.Packs))
	for i, p := range f.Packs {
		n, err := b.number(p)
		if err != nil {
			return err
		}
		nums[i] = n
	}
	for _, fb := range f.Blobs {
		if int(fb.Pack) >= len(nums) || !pack.ValidType(fb.Type) {
			return fmt.Errorf("index file: %w: blob %s", ErrInvalid, fb.ID.Short())
		}
		b.entries = append(b.entries, entry{id: fb.ID, ref: makeRef(nums[fb.Pack], fb.Type), off: fb.Offset, len: fb.Length})
	}
	return nil
}

// AddPack adds the blobs of pack p, as read from its header.
func (b *Builder) AddPack(p pack.ID, blobs []pack.Blob) error {
	n, err := b.number(p)
	if err != nil {
		return err
	}
	for _, bl := range blobs {
		if !pack.ValidType(bl.Type) {
			return fmt.Errorf("index pack %s: %w: blob %s of type %v", p.Short(), ErrInvalid, bl.ID.Short(), bl.Type)
		}
		b.entries = append(b.entries, entry{id: bl.ID, ref: makeRef(n, bl.Type), off: bl.Offset, len: bl.Length})
	}
	return nil
}

// Build sorts the entries into an Index and empties the Builder. Entries
// of packs for which keep returns false are dropped (keep nil keeps all);
// packs left without entries get no number. For a blob listed more than
// once one of its locations is kept (all are valid copies).
func (b *Builder) Build(keep func(pack.ID) bool) *Index {
	renum := make([]uint32, len(b.packs))
	var packs []pack.ID
	used := make([]bool, len(b.packs))
	for _, e := range b.entries {
		used[e.pack()] = true
	}
	for i, p := range b.packs {
		renum[i] = ^uint32(0)
		if used[i] && (keep == nil || keep(p)) {
			renum[i] = uint32(len(packs))
			packs = append(packs, p)
		}
	}
	entries := b.entries[:0]
	for _, e := range b.entries {
		if n := renum[e.pack()]; n != ^uint32(0) {
			e.ref = makeRef(n, e.typ())
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, cmpEntry)
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return cmpEntry(a, b) == 0 })
	if cap(entries)-len(entries) > len(entries)/32 {
		// Release what the size hint over-estimated.
		entries = slices.Clone(entries)
	}
	x := &Index{packs: slices.Clip(packs), main: entries}
	*b = Builder{packNum: map[pack.ID]uint32{}}
	return x
}

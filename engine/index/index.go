package index

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"

	"keep/engine/fingerprint"
	"keep/engine/pack"
)

// MaxPacks is the most packs an Index can number: the pack number shares a
// 32-bit word with the blob type.
const MaxPacks = 1 << 30

// ErrInvalid is returned (wrapped) for entries an Index cannot hold.
var ErrInvalid = errors.New("invalid index entry")

// Location is where a blob is stored: the sealed blob is bytes
// [Offset, Offset+Length) of the pack file.
type Location struct {
	Pack   pack.ID
	Offset uint32
	Length uint32
}

// Entry is a blob and its location.
type Entry struct {
	Type pack.BlobType
	ID   fingerprint.ID
	Location
}

// entry is the in-memory form of an Entry: 44 bytes, no pointers.
type entry struct {
	id  fingerprint.ID
	ref uint32 // pack number << 2 | blob type
	off uint32
	len uint32
}

// entrySize is what one entry costs in the arrays.
const entrySize = int(unsafe.Sizeof(entry{}))

func (e *entry) typ() pack.BlobType { return pack.BlobType(e.ref & 3) }
func (e *entry) pack() uint32       { return e.ref >> 2 }

func makeRef(p uint32, t pack.BlobType) uint32 { return p<<2 | uint32(t) }

// key is what entries are sorted and looked up by.
type key struct {
	id fingerprint.ID
	t  pack.BlobType
}

func cmpEntry(a, b entry) int {
	if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
		return c
	}
	return int(a.typ()) - int(b.typ())
}

func cmpKey(e entry, k key) int {
	if c := bytes.Compare(e.id[:], k.id[:]); c != 0 {
		return c
	}
	return int(e.typ()) - int(k.t)
}

// Index maps (type, ID) to a Location. The zero value is not usable; use
// New or a Builder. It is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	packs []pack.ID // pack number → ID
	main  []entry   // sorted, unique
	tail  []entry   // sorted, unique, disjoint from main; small
}

// New returns an empty Index.
func New() *Index { return &Index{} }

// tailLimit is how large the tail may grow before it is merged into main:
// about 4·√n balances the per-pack cost of inserting into the tail against
// the amortized cost of the merge.
func (x *Index) tailLimit() int {
	return max(4096, 4*int(math.Sqrt(float64(len(x.main)))))
}

// Lookup returns the location of the blob of type t and ID id.
func (x *Index) Lookup(t pack.BlobType, id fingerprint.ID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.find(key{id, t})
	if !ok {
		return Location{}, false
	}
	return Location{Pack: x.packs[e.pack()], Offset: e.off, Length: e.len}, true
}

// Has reports whether the index holds the blob of type t and ID id.
func (x *Index) Has(t pack.BlobType, id fingerprint.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.find(key{id, t})
	return ok
}

func (x *Index) find(k key) (entry, bool) {
	if i, ok := slices.BinarySearchFunc(x.main, k, cmpKey); ok {
		return x.main[i], true
	}
	if i, ok := slices.BinarySearchFunc(x.tail, k, cmpKey); ok {
		return x.tail[i], true
	}
	return entry{}, false
}

// Len returns the number of blobs indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.main) + len(x.tail)
}

// PackCount returns the number of packs numbered (packs whose blobs were
// all duplicates included).
func (x *Index) PackCount() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.packs)
}

// MemoryBytes returns the bytes the index holds in its arrays (capacity, not
// length): what it costs in RAM, give or take a few headers.
func (x *Index) MemoryBytes() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return (cap(x.main)+cap(x.tail))*entrySize + cap(x.packs)*len(pack.ID{})
}

// Add indexes the blobs of pack p (a pack already durable on disk) and
// returns how many were new; blobs already indexed keep their location.
// A pack whose blobs are all known gets no number.
func (x *Index) Add(p pack.ID, blobs []pack.Blob) (int, error) {
	batch := make([]entry, 0, len(blobs))
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.packs) >= MaxPacks {
		return 0, fmt.Errorf("index pack %s: %w: more than %d packs", p.Short(), ErrInvalid, MaxPacks)
	}
	pn := uint32(len(x.packs))
	for _, b := range blobs {
		if !pack.ValidType(b.Type) {
			return 0, fmt.Errorf("index pack %s: %w: blob %s of type %v", p.Short(), ErrInvalid, b.ID.Short(), b.Type)
		}
		batch = append(batch, entry{id: b.ID, ref: makeRef(pn, b.Type), off: b.Offset, len: b.Length})
	}
	slices.SortFunc(batch, cmpEntry)
	batch = slices.CompactFunc(batch, func(a, b entry) bool { return cmpEntry(a, b) == 0 })
	batch = slices.DeleteFunc(batch, func(e entry) bool {
		_, ok := x.find(key{e.id, e.typ()})
		return ok
	})
	if len(batch) == 0 {
		return 0, nil
	}
	x.packs = append(x.packs, p)
	x.tail = mergeInto(x.tail, batch)
	if len(x.tail) > x.tailLimit() {
		x.main = mergeInto(x.main, x.tail)
		x.tail = x.tail[:0]
	}
	return len(batch), nil
}

// mergeInto merges sorted src into sorted dst, in place from the back
// (src and dst hold no common key), and returns the extended dst. Blocks of
// dst move with copy, so merging a small src into a large dst costs about
// one memmove of dst. When dst must grow it gets 1/32 spare capacity.
func mergeInto(dst, src []entry) []entry {
	n, m := len(dst), len(src)
	if cap(dst) < n+m {
		grown := make([]entry, n+m, n+m+(n+m)/32)
		copy(grown, dst)
		dst = grown
	} else {
		dst = dst[:n+m]
	}
	i, k := n, n+m // dst[:i] is unmerged; dst[k:] is final
	for j := m - 1; j >= 0; j-- {
		// Everything in dst[pos:i] sorts after src[j].
		pos, _ := slices.BinarySearchFunc(dst[:i], src[j], cmpEntry)
		k -= i - pos
		copy(dst[k:], dst[pos:i])
		k--
		dst[k] = src[j]
		i = pos
	}
	return dst
}

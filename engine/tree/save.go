package tree

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
)

// Putter stores tree blobs: engine/repo's Repo. PutSize stores data as
// the blob of type t and ID id unless present and returns the sealed size
// stored (0: present already); an error means it was not stored. Sum is
// the repository's fingerprint.
type Putter interface {
	Sum(data []byte) fingerprint.ID
	PutSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (int, error)
}

// DefaultMaxBlob is the largest tree blob Save writes: the repository's
// limit.
const DefaultMaxBlob = repo.MaxTreeSize

// defaultInlineExtents: longer content lists are moved to extent blobs
// (a 4 GiB file at 1 MiB chunks stays inline).
const defaultInlineExtents = 4096

// Saver writes directories as tree blobs. Its counters are safe for
// concurrent use, and so is Save.
type Saver struct {
	Store Putter
	// MaxBlob bounds each blob; zero: DefaultMaxBlob. Tests lower it to
	// exercise splitting.
	MaxBlob int
	// InlineExtents is the longest content list kept in its node; zero:
	// 4096.
	InlineExtents int

	blobs, stored, storedRaw atomic.Int64
}

// Stats returns the blobs Save wrote (new ones) and their sealed and
// plaintext sizes.
func (s *Saver) Stats() (blobs, stored, raw int64) {
	return s.blobs.Load(), s.stored.Load(), s.storedRaw.Load()
}

func (s *Saver) limits() (maxBlob, inline int) {
	maxBlob, inline = s.MaxBlob, s.InlineExtents
	if maxBlob <= 0 {
		maxBlob = DefaultMaxBlob
	}
	if inline <= 0 {
		inline = defaultInlineExtents
	}
	return maxBlob, inline
}

// Save stores the nodes of one directory (sorted by name, unique, each
// valid) and returns the tree ID the parent's Dir node records. The same
// nodes always give the same blobs and ID, so an unchanged directory
// stores nothing. Long content lists go to KindExtents blobs; a directory
// whose encoding exceeds MaxBlob is split greedily, in order, into
// KindNodes parts listed by a KindParts blob, whose ID is returned. nodes
// is not modified.
func (s *Saver) Save(ctx context.Context, nodes []Node) (fingerprint.ID, error) {
	maxBlob, inline := s.limits()
	var (
		enc    []byte
		starts []int
	)
	for i := range nodes {
		if i > 0 && nodes[i-1].Name >= nodes[i].Name {
			return fingerprint.ID{}, fmt.Errorf("tree: nodes not sorted and unique at %q", nodes[i].Name)
		}
		n := nodes[i]
		if len(n.Content) > inline {
			ids, err := s.saveExtents(ctx, n.Content, maxBlob)
			if err != nil {
				return fingerprint.ID{}, err
			}
			n.Content, n.ContentBlobs = nil, ids
		}
		starts = append(starts, len(enc))
		var err error
		if enc, err = appendNode(enc, &n); err != nil {
			return fingerprint.ID{}, err
		}
	}
	starts = append(starts, len(enc))
	whole := blobOf(blobVersion(nodes), enc, len(nodes))
	if len(whole) <= maxBlob {
		return s.put(ctx, whole)
	}
	// Split: greedily as many nodes per part as fit.
	var parts []fingerprint.ID
	for i := 0; i < len(nodes); {
		j := i + 1
		for j < len(nodes) && 2+10+starts[j+1]-starts[i] <= maxBlob {
			j++
		}
		part := blobOf(blobVersion(nodes[i:j]), enc[starts[i]:starts[j]], j-i)
		if len(part) > maxBlob {
			return fingerprint.ID{}, fmt.Errorf("tree: node %q alone exceeds %d bytes", nodes[i].Name, maxBlob)
		}
		id, err := s.put(ctx, part)
		if err != nil {
			return fingerprint.ID{}, err
		}
		parts = append(parts, id)
		i = j
	}
	b := encodeParts(parts)
	if len(b) > maxBlob {
		return fingerprint.ID{}, fmt.Errorf("tree: directory of %d nodes needs %d parts", len(nodes), len(parts))
	}
	return s.put(ctx, b)
}

func blobOf(version byte, enc []byte, n int) []byte {
	b := make([]byte, 0, 2+10+len(enc))
	b = append(b, version, byte(KindNodes))
	b = binary.AppendUvarint(b, uint64(n))
	return append(b, enc...)
}

// saveExtents stores a long content list as KindExtents blobs.
func (s *Saver) saveExtents(ctx context.Context, es []Extent, maxBlob int) ([]fingerprint.ID, error) {
	per := (maxBlob - 16) / (1 + fingerprint.Size + 10)
	var ids []fingerprint.ID
	for len(es) > 0 {
		k := min(per, len(es))
		// The whole list has no two holes in a row, so neither has any
		// piece: cutting anywhere is fine.
		id, err := s.put(ctx, encodeExtents(es[:k]))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		es = es[k:]
	}
	return ids, nil
}

// sumPutter is a Putter that fingerprints and stores in one call, hashing
// each new blob once (engine/repo's Repo).
type sumPutter interface {
	SumPut(ctx context.Context, t pack.BlobType, data []byte) (fingerprint.ID, int, error)
}

func (s *Saver) put(ctx context.Context, b []byte) (fingerprint.ID, error) {
	var (
		id  fingerprint.ID
		n   int
		err error
	)
	if sp, ok := s.Store.(sumPutter); ok {
		id, n, err = sp.SumPut(ctx, pack.Tree, b)
	} else {
		id = s.Store.Sum(b)
		n, err = s.Store.PutSize(ctx, pack.Tree, id, b)
	}
	if err != nil {
		return fingerprint.ID{}, fmt.Errorf("tree: %w", err)
	}
	if n > 0 {
		s.blobs.Add(1)
		s.stored.Add(int64(n))
		s.storedRaw.Add(int64(len(b)))
	}
	return id, nil
}

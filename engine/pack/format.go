package pack

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"

	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// BlobType is what a blob holds: one of the seal types Data or Tree.
type BlobType = seal.Type

// Blob types. The numbers are seal's and part of the storage format.
const (
	// Data blobs are chunks of file or stream data (chunk key).
	Data BlobType = seal.TypeChunk
	// Tree blobs are trees and other metadata objects (metadata key).
	Tree BlobType = seal.TypeMeta
)

// ValidType reports whether t may be stored in a pack.
func ValidType(t BlobType) bool { return t == Data || t == Tree }

// TypeHeader is the seal type of pack headers. Seal types 16 and up belong
// to the storage layer (see engine/repo for the table).
const TypeHeader seal.Type = 16

// Format limits.
const (
	// MaxBlobs is the most blobs one pack holds.
	MaxBlobs = 1 << 16
	// MaxBlobRegion is the largest blob region: offsets are 32-bit.
	MaxBlobRegion = 1<<32 - 1

	version     = 1
	magic       = "KPK1"
	trailerSize = 4 + 4 // header length, magic
	entrySize   = 1 + fingerprint.Size + 4 + 4 + 4
	headerFixed = 1 + 4
	// maxHeaderPlain is the largest header plaintext.
	maxHeaderPlain = headerFixed + MaxBlobs*entrySize
	// MaxHeaderSize is the largest sealed header: seal keeps compressed
	// data only when it is smaller, so sealing adds at most Overhead.
	MaxHeaderSize = maxHeaderPlain + seal.Overhead
)

// Errors callers branch on.
var (
	// ErrCorrupt: the bytes are not a valid pack under this key (damage,
	// truncation, tampering or a wrong key).
	ErrCorrupt = errors.New("pack is corrupt")
	// ErrFull: the blob does not fit in this pack; finish it and start
	// another.
	ErrFull = errors.New("pack is full")
	// ErrBlob: Add was given an invalid blob (type, size).
	ErrBlob = errors.New("invalid blob")
)

// ID names a pack: the BLAKE3-256 hash of the pack file's bytes.
type ID [32]byte

// Sum returns the ID of a pack file's bytes.
func Sum(b []byte) ID { return blake3.Sum256(b) }

// String returns the ID as 64 lowercase hex digits (the pack's file name).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// ParseID parses a pack's file name.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("pack id %q: %d characters, want %d", s, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("pack id %q: not hex", s)
	}
	return id, nil
}

// Blob is one entry of a pack's header.
type Blob struct {
	Type      BlobType
	ID        fingerprint.ID
	Offset    uint32 // of the sealed blob (or its bundle) in the pack file
	Length    uint32 // of the sealed blob, or of its bundle | Bundled
	RawLength uint32 // of the plaintext
}

// End is the offset just past the blob (or its bundle).
func (b Blob) End() uint64 { return uint64(b.Offset) + uint64(b.Sealed()) }

package seal

import (
	"errors"
	"fmt"

	"keep/engine/fingerprint"
)

// Blob layout, version 1:
//
//	header (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)
//
// The header's high nibble is the format version, the low nibble the codec
// of the plaintext under the encryption. The additional data authenticated
// with the ciphertext is header | type | ID (34 bytes), so a blob opens only
// under the header it was sealed with and as the type and ID it was sealed
// as.
const (
	version   = 1
	nonceSize = 12
	tagSize   = 16
	headerLen = 1
	// Overhead is the number of bytes a sealed blob adds to its (possibly
	// compressed) plaintext.
	Overhead = headerLen + nonceSize + tagSize
	// MaxSize is the largest plaintext Seal accepts.
	MaxSize = 1 << 30
	aadLen  = headerLen + 1 + fingerprint.Size
)

// Codec is the compression of a blob's plaintext.
type Codec uint8

// Codecs. The numbers are part of the storage format.
const (
	CodecNone Codec = 0 // stored as is
	CodecZstd Codec = 1 // one or more zstd frames
	// CodecZstdX86 is zstd over the plaintext with x86 branch targets
	// made absolute (x86.go): chosen for plaintexts that look like x86
	// machine code.
	CodecZstdX86 Codec = 2
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	case CodecZstdX86:
		return "zstd+x86"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

func (c Codec) valid() bool { return c <= CodecZstdX86 }

// Type is what a blob holds; it is bound into the blob's authentication, so
// a blob sealed as one type never opens as another. Zero is not a type.
type Type uint8

// Types. The numbers are part of the storage format; packages above may
// define further non-zero types for their metadata objects.
const (
	TypeChunk Type = 1 // a chunk of file or stream data
	TypeMeta  Type = 2 // a metadata object (tree, snapshot, index, …)
)

func (t Type) String() string {
	switch t {
	case TypeChunk:
		return "chunk"
	case TypeMeta:
		return "meta"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Errors callers branch on.
var (
	// ErrCorrupt: the blob is not a valid blob of this type and ID under
	// this key. Tampering, damage, a wrong key, type or ID all look the
	// same: authenticated encryption cannot tell them apart.
	ErrCorrupt = errors.New("blob is corrupt or does not belong here")
	// ErrTooLarge: a plaintext is larger than MaxSize (Seal) or than the
	// caller's limit (Open).
	ErrTooLarge = errors.New("blob too large")
	// ErrType: the zero Type was given.
	ErrType = errors.New("invalid blob type")
)

func header(c Codec) byte { return version<<4 | byte(c) }

// parseHeader returns the codec of a header byte.
func parseHeader(h byte) (Codec, error) {
	if h>>4 != version {
		return 0, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, h>>4)
	}
	c := Codec(h & 0x0f)
	if !c.valid() {
		return 0, fmt.Errorf("%w: unknown %v", ErrCorrupt, c)
	}
	return c, nil
}

// additionalData builds the authenticated additional data into a.
func additionalData(a *[aadLen]byte, h byte, t Type, id fingerprint.ID) []byte {
	a[0] = h
	a[1] = byte(t)
	copy(a[2:], id[:])
	return a[:]
}

package pack

import (
	"encoding/binary"
	"fmt"
	"io"

	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// encodeHeader returns the header plaintext listing blobs.
func encodeHeader(blobs []Blob) []byte {
	b := make([]byte, 0, headerFixed+len(blobs)*entrySize)
	b = append(b, version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(blobs)))
	for _, bl := range blobs {
		b = append(b, byte(bl.Type))
		b = append(b, bl.ID[:]...)
		b = binary.LittleEndian.AppendUint32(b, bl.Offset)
		b = binary.LittleEndian.AppendUint32(b, bl.Length)
		b = binary.LittleEndian.AppendUint32(b, bl.RawLength)
	}
	return b
}

// decodeHeader parses a header plaintext whose blobs must tile
// [0, regionEnd) exactly.
func decodeHeader(b []byte, regionEnd uint64) ([]Blob, error) {
	if len(b) < headerFixed {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != version {
		return nil, fmt.Errorf("%w: header version %d, this build reads %d", ErrCorrupt, b[0], version)
	}
	n := binary.LittleEndian.Uint32(b[1:])
	if n == 0 || n > MaxBlobs {
		return nil, fmt.Errorf("%w: header lists %d blobs, want 1 to %d", ErrCorrupt, n, MaxBlobs)
	}
	if uint64(len(b)) != headerFixed+uint64(n)*entrySize {
		return nil, fmt.Errorf("%w: header of %d bytes for %d blobs", ErrCorrupt, len(b), n)
	}
	blobs := make([]Blob, n)
	var next uint64
	run := 0 // members of the current bundle so far
	for i := range blobs {
		e := b[headerFixed+i*entrySize:]
		bl := Blob{
			Type:      BlobType(e[0]),
			Offset:    binary.LittleEndian.Uint32(e[1+fingerprint.Size:]),
			Length:    binary.LittleEndian.Uint32(e[5+fingerprint.Size:]),
			RawLength: binary.LittleEndian.Uint32(e[9+fingerprint.Size:]),
		}
		copy(bl.ID[:], e[1:])
		// A member of the bundle the previous entry is in starts
		// where that bundle does; anything else where the previous
		// blob or bundle ended.
		inPrev := i > 0 && bl.InBundle() && bl.Offset == blobs[i-1].Offset && bl.Length == blobs[i-1].Length
		switch {
		case !ValidType(bl.Type):
			return nil, fmt.Errorf("%w: blob %d: type %v", ErrCorrupt, i, bl.Type)
		case bl.InBundle() && bl.Type != Data:
			return nil, fmt.Errorf("%w: blob %d: a bundle of %v blobs", ErrCorrupt, i, bl.Type)
		case inPrev:
			if run++; run > MaxBundleMembers {
				return nil, fmt.Errorf("%w: blob %d: more than %d members in a bundle", ErrCorrupt, i, MaxBundleMembers)
			}
		case uint64(bl.Offset) != next:
			return nil, fmt.Errorf("%w: blob %d at offset %d, want %d", ErrCorrupt, i, bl.Offset, next)
		case bl.InBundle() && bl.Sealed() > MaxBundleSize+seal.Overhead:
			return nil, fmt.Errorf("%w: blob %d: bundle of %d bytes", ErrCorrupt, i, bl.Sealed())
		case bl.Sealed() < seal.Overhead:
			return nil, fmt.Errorf("%w: blob %d: %d bytes, shorter than a sealed blob", ErrCorrupt, i, bl.Length)
		case bl.RawLength > seal.MaxSize:
			return nil, fmt.Errorf("%w: blob %d: plaintext length %d", ErrCorrupt, i, bl.RawLength)
		}
		if !inPrev {
			run = 1
		}
		next = bl.End()
		blobs[i] = bl
	}
	if next != regionEnd {
		return nil, fmt.Errorf("%w: blobs end at %d, header starts at %d", ErrCorrupt, next, regionEnd)
	}
	return blobs, nil
}

// ReadHeader reads and authenticates the header of the pack r of size
// bytes, opening it with s (the metadata sealer), and returns its blobs in
// file order. It reads only the trailer and the header, and allocates at
// most MaxHeaderSize bytes for them whatever the file says. A damaged,
// truncated or foreign file, or a wrong key, is ErrCorrupt; a read error is
// returned wrapped.
func ReadHeader(r io.ReaderAt, size int64, s *seal.Sealer) ([]Blob, error) {
	if size < int64(trailerSize+seal.Overhead) {
		return nil, fmt.Errorf("%w: %d bytes, too short for a pack", ErrCorrupt, size)
	}
	var tr [trailerSize]byte
	if _, err := r.ReadAt(tr[:], size-trailerSize); err != nil {
		return nil, fmt.Errorf("read pack trailer: %w", err)
	}
	if string(tr[4:]) != magic {
		return nil, fmt.Errorf("%w: no pack trailer", ErrCorrupt)
	}
	hlen := int64(binary.LittleEndian.Uint32(tr[:]))
	if hlen < seal.Overhead || hlen > MaxHeaderSize || hlen > size-trailerSize {
		return nil, fmt.Errorf("%w: header length %d in a %d-byte file", ErrCorrupt, hlen, size)
	}
	sealed := make([]byte, hlen)
	start := size - trailerSize - hlen
	if _, err := r.ReadAt(sealed, start); err != nil {
		return nil, fmt.Errorf("read pack header: %w", err)
	}
	plain, err := s.Open(nil, TypeHeader, fingerprint.ID{}, sealed, maxHeaderPlain)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrCorrupt, err)
	}
	return decodeHeader(plain, uint64(start))
}

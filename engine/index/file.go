package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/seal"
)

// TypeFile is the seal type of index files (see engine/repo for the table
// of the storage layer's seal types).
const TypeFile seal.Type = 17

// Index file limits and layout.
const (
	// MaxFileBlobs is the most blobs (and packs) one index file lists.
	MaxFileBlobs = 1 << 18

	fileVersion   = 1
	fileMagic     = "KIX1"
	fileFixed     = 1 + 4 + 4
	filePackSize  = len(pack.ID{})
	fileEntrySize = 1 + fingerprint.Size + 4 + 4 + 4
	maxFilePlain  = fileFixed + MaxFileBlobs*(filePackSize+fileEntrySize)
	// MaxFileSize is the largest index file DecodeFile reads.
	MaxFileSize = len(fileMagic) + maxFilePlain + seal.Overhead
)

// ErrCorrupt: the bytes are not a valid index file under this key.
var ErrCorrupt = errors.New("index file is corrupt")

// File is the content of one index file: blobs and their locations, with
// packs numbered within the file.
type File struct {
	Packs []pack.ID
	Blobs []FileBlob
}

// FileBlob is one blob of a File; Pack is a number into File.Packs.
type FileBlob struct {
	Pack   uint32
	Type   pack.BlobType
	ID     fingerprint.ID
	Offset uint32
	Length uint32
}

// AddPack appends the blobs of pack p to f.
func (f *File) AddPack(p pack.ID, blobs []pack.Blob) {
	n := uint32(len(f.Packs))
	f.Packs = append(f.Packs, p)
	for _, b := range blobs {
		f.Blobs = append(f.Blobs, FileBlob{Pack: n, Type: b.Type, ID: b.ID, Offset: b.Offset, Length: b.Length})
	}
}

// EncodeFile returns the index file holding f, sealed with s (the metadata
// sealer). f must list 1 to MaxFileBlobs blobs, at most as many packs, and
// only valid references.
func EncodeFile(s *seal.Sealer, f *File) ([]byte, error) {
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("encode index file: %w", err)
	}
	plain := encodePlain(f)
	b, err := s.Seal([]byte(fileMagic), TypeFile, fingerprint.ID{}, plain)
	if err != nil {
		return nil, fmt.Errorf("encode index file: %w", err)
	}
	return b, nil
}

func (f *File) validate() error {
	switch {
	case len(f.Blobs) == 0 || len(f.Blobs) > MaxFileBlobs:
		return fmt.Errorf("%w: %d blobs, want 1 to %d", ErrInvalid, len(f.Blobs), MaxFileBlobs)
	case len(f.Packs) > len(f.Blobs):
		return fmt.Errorf("%w: %d packs for %d blobs", ErrInvalid, len(f.Packs), len(f.Blobs))
	}
	for _, b := range f.Blobs {
		switch {
		case int(b.Pack) >= len(f.Packs):
			return fmt.Errorf("%w: blob %s names pack %d of %d", ErrInvalid, b.ID.Short(), b.Pack, len(f.Packs))
		case !pack.ValidType(b.Type):
			return fmt.Errorf("%w: blob %s of type %v", ErrInvalid, b.ID.Short(), b.Type)
		case b.Length < seal.Overhead || uint64(b.Offset)+uint64(b.Length) > pack.MaxBlobRegion:
			return fmt.Errorf("%w: blob %s at %d+%d", ErrInvalid, b.ID.Short(), b.Offset, b.Length)
		}
	}
	return nil
}

func encodePlain(f *File) []byte {
	b := make([]byte, 0, fileFixed+len(f.Packs)*filePackSize+len(f.Blobs)*fileEntrySize)
	b = append(b, fileVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Packs)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Blobs)))
	for _, p := range f.Packs {
		b = append(b, p[:]...)
	}
	for _, e := range f.Blobs {
		b = append(b, byte(e.Type))
		b = append(b, e.ID[:]...)
		b = binary.LittleEndian.AppendUint32(b, e.Pack)
		b = binary.LittleEndian.AppendUint32(b, e.Offset)
		b = binary.LittleEndian.AppendUint32(b, e.Length)
	}
	return b
}

// DecodeFile authenticates and parses an index file with s (the metadata
// sealer). Oversized, damaged, truncated or foreign bytes, a wrong key and
// invalid contents are ErrCorrupt.
func DecodeFile(s *seal.Sealer, b []byte) (*File, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrCorrupt, len(b), MaxFileSize)
	}
	if len(b) < len(fileMagic) || string(b[:len(fileMagic)]) != fileMagic {
		return nil, fmt.Errorf("%w: not an index file", ErrCorrupt)
	}
	plain, err := s.Open(nil, TypeFile, fingerprint.ID{}, b[len(fileMagic):], maxFilePlain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return decodePlain(plain)
}

// decodePlain parses an index file's plaintext.
func decodePlain(b []byte) (*File, error) {
	if len(b) < fileFixed {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != fileVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrCorrupt, b[0], fileVersion)
	}
	np := binary.LittleEndian.Uint32(b[1:])
	nb := binary.LittleEndian.Uint32(b[5:])
	if nb == 0 || nb > MaxFileBlobs || np > nb {
		return nil, fmt.Errorf("%w: %d packs and %d blobs", ErrCorrupt, np, nb)
	}
	if uint64(len(b)) != fileFixed+uint64(np)*uint64(filePackSize)+uint64(nb)*fileEntrySize {
		return nil, fmt.Errorf("%w: %d bytes for %d packs and %d blobs", ErrCorrupt, len(b), np, nb)
	}
	f := &File{Packs: make([]pack.ID, np), Blobs: make([]FileBlob, nb)}
	p := b[fileFixed:]
	for i := range f.Packs {
		copy(f.Packs[i][:], p[i*filePackSize:])
	}
	p = p[int(np)*filePackSize:]
	for i := range f.Blobs {
		e := p[i*fileEntrySize:]
		fb := FileBlob{
			Type:   pack.BlobType(e[0]),
			Pack:   binary.LittleEndian.Uint32(e[1+fingerprint.Size:]),
			Offset: binary.LittleEndian.Uint32(e[5+fingerprint.Size:]),
			Length: binary.LittleEndian.Uint32(e[9+fingerprint.Size:]),
		}
		copy(fb.ID[:], e[1:])
		f.Blobs[i] = fb
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return f, nil
}

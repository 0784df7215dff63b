package pack

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/zeebo/blake3"

	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// A Writer appends sealed blobs to a pack file and finishes it with the
// header. It hashes everything it writes, so Finish returns the pack's ID
// without reading the file back. It is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	hash  *blake3.Hasher
	blobs []Blob
	size  uint64 // bytes of blobs written: the next offset
	err   error  // sticky: the first write error, or finished
}

// errFinished is the sticky error of a finished Writer.
var errFinished = fmt.Errorf("%w: already finished", ErrBlob)

// NewWriter returns a Writer that writes a pack to w, from its first byte.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, hash: blake3.New()}
}

// Add appends a blob of type t and ID id, sealed by the caller (as t and id)
// from rawLen bytes of plaintext. It fails with ErrFull when the pack holds
// MaxBlobs blobs or the blob would cross MaxBlobRegion, with ErrBlob for an
// invalid type or size, and with the write error (wrapped) if writing
// fails; after a write error the Writer fails every call.
func (pw *Writer) Add(t BlobType, id fingerprint.ID, sealed []byte, rawLen int) error {
	if pw.err != nil {
		return pw.err
	}
	switch {
	case !ValidType(t):
		return fmt.Errorf("pack add %s: %w: type %v", id.Short(), ErrBlob, t)
	case len(sealed) < seal.Overhead:
		return fmt.Errorf("pack add %s: %w: %d sealed bytes, fewer than seal.Overhead", id.Short(), ErrBlob, len(sealed))
	case rawLen < 0 || rawLen > seal.MaxSize:
		return fmt.Errorf("pack add %s: %w: plaintext length %d", id.Short(), ErrBlob, rawLen)
	case len(pw.blobs) >= MaxBlobs:
		return fmt.Errorf("pack add %s: %w: %d blobs", id.Short(), ErrFull, len(pw.blobs))
	case pw.size+uint64(len(sealed)) > MaxBlobRegion:
		return fmt.Errorf("pack add %s: %w: %d + %d bytes", id.Short(), ErrFull, pw.size, len(sealed))
	}
	if err := pw.write(sealed); err != nil {
		return fmt.Errorf("pack add %s: %w", id.Short(), err)
	}
	pw.blobs = append(pw.blobs, Blob{Type: t, ID: id, Offset: uint32(pw.size), Length: uint32(len(sealed)), RawLength: uint32(rawLen)})
	pw.size += uint64(len(sealed))
	return nil
}

// AddBundle appends a bundle of Data blobs sealed by the caller (as
// TypeDataBundle with the zero ID) from the plaintext of a Bundler whose
// members are ms, and lists each member as a blob (see Bundled). Errors as
// Add's; ErrFull also when the members would take the pack past MaxBlobs.
func (pw *Writer) AddBundle(ms []Member, sealed []byte) error {
	if pw.err != nil {
		return pw.err
	}
	switch {
	case len(ms) == 0 || len(ms) > MaxBundleMembers:
		return fmt.Errorf("pack add bundle: %w: %d members", ErrBlob, len(ms))
	case len(sealed) < seal.Overhead || len(sealed) > MaxBundleSize+seal.Overhead:
		return fmt.Errorf("pack add bundle: %w: %d sealed bytes", ErrBlob, len(sealed))
	case len(pw.blobs)+len(ms) > MaxBlobs:
		return fmt.Errorf("pack add bundle: %w: %d + %d blobs", ErrFull, len(pw.blobs), len(ms))
	case pw.size+uint64(len(sealed)) > MaxBlobRegion:
		return fmt.Errorf("pack add bundle: %w: %d + %d bytes", ErrFull, pw.size, len(sealed))
	}
	if err := pw.write(sealed); err != nil {
		return fmt.Errorf("pack add bundle: %w", err)
	}
	for _, m := range ms {
		pw.blobs = append(pw.blobs, Blob{Type: Data, ID: m.ID, Offset: uint32(pw.size),
			Length: uint32(len(sealed)) | Bundled, RawLength: m.Len})
	}
	pw.size += uint64(len(sealed))
	return nil
}

func (pw *Writer) write(b []byte) error {
	if _, err := pw.w.Write(b); err != nil {
		pw.err = fmt.Errorf("write pack: %w", err)
		return pw.err
	}
	_, _ = pw.hash.Write(b) // blake3 never fails
	return nil
}

// Len returns the number of blobs added.
func (pw *Writer) Len() int { return len(pw.blobs) }

// Size returns the number of bytes written so far (the blob region).
func (pw *Writer) Size() int64 { return int64(pw.size) }

// Blobs returns the blobs added, in file order. The slice belongs to the
// Writer; callers must not modify it.
func (pw *Writer) Blobs() []Blob { return pw.blobs }

// Finish writes the header, sealed with s (the metadata sealer), and the
// trailer, and returns the pack's ID. The pack must hold at least one blob.
// The Writer cannot be used afterwards. Finish does not sync: making the
// file durable is the caller's job.
func (pw *Writer) Finish(s *seal.Sealer) (ID, error) {
	if pw.err != nil {
		return ID{}, pw.err
	}
	if len(pw.blobs) == 0 {
		return ID{}, fmt.Errorf("pack finish: %w: no blobs", ErrBlob)
	}
	plain := encodeHeader(pw.blobs)
	sealed, err := s.Seal(nil, TypeHeader, fingerprint.ID{}, plain)
	if err != nil {
		return ID{}, fmt.Errorf("pack finish: seal header: %w", err)
	}
	sealed = binary.LittleEndian.AppendUint32(sealed, uint32(len(sealed)))
	sealed = append(sealed, magic...)
	if err := pw.write(sealed); err != nil {
		return ID{}, fmt.Errorf("pack finish: %w", err)
	}
	var id ID
	pw.hash.Sum(id[:0])
	pw.err = errFinished
	return id, nil
}

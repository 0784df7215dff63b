package md

import (
	"errors"
	"fmt"
	"io"
)

// SuperblockByteOffset is where a 1.2 superblock starts on a member.
const SuperblockByteOffset = V12SuperOffset * SectorSize

// Read reads and decodes the version 1.2 superblock of a member (4 KiB
// from its start) and checks what only the location tells: super_offset
// is 8, and the data area starts after the superblock. A blank member
// gives ErrBadMagic; a member shorter than 8 KiB gives ErrTruncated.
func Read(r io.ReaderAt) (*Superblock, error) {
	buf := make([]byte, MaxSuperblockSize)
	n, err := r.ReadAt(buf, SuperblockByteOffset)
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("md: read superblock: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("md: read superblock: %w", err)
	}
	sb, err := Decode(buf[:n])
	if err != nil {
		return nil, err
	}
	if sb.SuperOffset != V12SuperOffset {
		return nil, fmt.Errorf("md: superblock at sector %d says super_offset %d: %w",
			V12SuperOffset, sb.SuperOffset, ErrInvalid)
	}
	sbSectors := uint64(roundUp(sb.EncodedSize(), SectorSize) / SectorSize)
	if sb.DataOffset < sb.SuperOffset+sbSectors {
		return nil, fmt.Errorf("md: data_offset %d overlaps the superblock: %w", sb.DataOffset, ErrInvalid)
	}
	return sb, nil
}

// Write encodes sb and writes it 4 KiB from the start of a member, padded
// with zeros to a whole sector (as mdadm does; the kernel rounds the same
// way). It writes nothing if sb does not encode. The caller syncs.
func Write(w io.WriterAt, sb *Superblock) error {
	if sb.SuperOffset != V12SuperOffset {
		return fmt.Errorf("md: write superblock: super_offset %d is not 1.2's %d: %w",
			sb.SuperOffset, V12SuperOffset, ErrInvalid)
	}
	b, err := sb.Encode()
	if err != nil {
		return err
	}
	buf := make([]byte, roundUp(len(b), SectorSize))
	copy(buf, b)
	if _, err := w.WriteAt(buf, SuperblockByteOffset); err != nil {
		return fmt.Errorf("md: write superblock: %w", err)
	}
	return nil
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

package md

import (
	"errors"
	"fmt"
	"io"
)

// bitmapByteOffset is where sb's internal bitmap starts on the member.
func bitmapByteOffset(sb *Superblock) (int64, error) {
	if sb.FeatureMap&FeatureBitmapOffset == 0 {
		return 0, fmt.Errorf("superblock has no internal bitmap: %w", ErrInvalid)
	}
	off := int64(sb.SuperOffset) + int64(sb.BitmapOffset)
	if off < 0 {
		return 0, fmt.Errorf("bitmap offset %d before the device: %w", sb.BitmapOffset, ErrInvalid)
	}
	return off * SectorSize, nil
}

// WriteBitmap writes a new internal bitmap for sb: the header followed by
// all bits set (every region dirty, as mdadm does for a new array), padded
// to 4 KiB. The bitmap's UUID must be the array's. The caller syncs.
func WriteBitmap(w io.WriterAt, sb *Superblock, bm *Bitmap) error {
	off, err := bitmapByteOffset(sb)
	if err != nil {
		return fmt.Errorf("md: write bitmap: %w", err)
	}
	if bm.UUID != sb.SetUUID {
		return fmt.Errorf("md: write bitmap: uuid %s is not the array's %s: %w", bm.UUID, sb.SetUUID, ErrInvalid)
	}
	hdr, err := bm.Encode()
	if err != nil {
		return err
	}
	buf := make([]byte, bm.Sectors()*SectorSize)
	copy(buf, hdr)
	bits := buf[BitmapHeaderSize:]
	for i := range bits {
		bits[i] = 0xff
	}
	if _, err := w.WriteAt(buf, off); err != nil {
		return fmt.Errorf("md: write bitmap: %w", err)
	}
	return nil
}

// ReadBitmap reads and decodes the internal bitmap superblock sb points to.
func ReadBitmap(r io.ReaderAt, sb *Superblock) (*Bitmap, error) {
	off, err := bitmapByteOffset(sb)
	if err != nil {
		return nil, fmt.Errorf("md: read bitmap: %w", err)
	}
	buf := make([]byte, BitmapHeaderSize)
	if _, err := r.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrTruncated
		}
		return nil, fmt.Errorf("md: read bitmap: %w", err)
	}
	return DecodeBitmap(buf)
}

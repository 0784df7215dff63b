package md

import (
	"encoding/binary"
	"fmt"
)

// Bitmap is the internal write-intent bitmap's superblock (bitmap_super_t,
// drivers/md/md-bitmap.h), 256 bytes, little endian. For 1.2 arrays it
// sits BitmapOffset sectors after the md superblock; the bits follow it,
// one per Chunk bytes of each member's data.
type Bitmap struct {
	Version uint32 // BitmapVersion (4) or 3
	UUID    UUID   // must equal the array's SetUUID
	// Events is bumped before the md superblock's; the kernel accepts a
	// bitmap whose Events equals, or is one more than, the array's.
	Events uint64
	// EventsCleared is the event count when bits were last cleared; a
	// member at least this fresh may be re-added with a bitmap resync.
	EventsCleared uint64
	SyncSize      uint64      // sectors the bitmap covers (the component size)
	State         BitmapState // state bits
	Chunk         uint32      // bytes of data per bit; a power of two
	DaemonSleep   uint32      // seconds between flushes of cleared bits
	WriteBehind   uint32      // outstanding write-behind writes allowed
	// SectorsReserved: sectors reserved for the bitmap (0: not recorded).
	SectorsReserved uint32
	Nodes           uint32   // cluster nodes; 0 for a local array
	ClusterName     [64]byte // cluster name, NUL padded
}

// BitmapState holds the bitmap state bits.
type BitmapState uint32

// Bitmap state bits (enum bitmap_state).
const (
	BitmapStale      BitmapState = 1 << 1
	BitmapWriteError BitmapState = 1 << 2
	BitmapHostEndian BitmapState = 1 << 15
)

// Bitmap constants.
const (
	// BitmapMagic is "bitm" read as a little-endian word.
	BitmapMagic uint32 = 0x6d746962
	// BitmapVersion is BITMAP_MAJOR_HI, what the kernel and mdadm write.
	BitmapVersion uint32 = 4
	// BitmapVersionLo is BITMAP_MAJOR_LO, still readable.
	BitmapVersionLo uint32 = 3
	// BitmapHeaderSize is the size of the bitmap superblock.
	BitmapHeaderSize = 256
	// DefaultDaemonSleep is mdadm's default (seconds).
	DefaultDaemonSleep = 5
	// maxWriteBehind is the kernel's COUNTER_MAX.
	maxWriteBehind = 16383
)

// Bits returns the number of bits the bitmap holds:
// ceil(SyncSize sectors / Chunk bytes).
func (bm *Bitmap) Bits() uint64 {
	cs := uint64(bm.Chunk) / SectorSize
	if cs == 0 {
		return 0
	}
	return (bm.SyncSize + cs - 1) / cs
}

// Sectors returns the on-disk size of header plus bits rounded up to
// 4 KiB, as mdadm reserves it, in sectors.
func (bm *Bitmap) Sectors() uint64 {
	bytes := (bm.Bits()+7)/8 + BitmapHeaderSize
	return (bytes + 4095) / 4096 * 4096 / SectorSize
}

// Encode returns the 256-byte bitmap superblock.
func (bm *Bitmap) Encode() ([]byte, error) {
	if err := bm.check(); err != nil {
		return nil, fmt.Errorf("md: encode bitmap: %w", err)
	}
	b := make([]byte, BitmapHeaderSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], BitmapMagic)
	le.PutUint32(b[4:], bm.Version)
	copy(b[8:24], bm.UUID[:])
	le.PutUint64(b[24:], bm.Events)
	le.PutUint64(b[32:], bm.EventsCleared)
	le.PutUint64(b[40:], bm.SyncSize)
	le.PutUint32(b[48:], uint32(bm.State))
	le.PutUint32(b[52:], bm.Chunk)
	le.PutUint32(b[56:], bm.DaemonSleep)
	le.PutUint32(b[60:], bm.WriteBehind)
	le.PutUint32(b[64:], bm.SectorsReserved)
	le.PutUint32(b[68:], bm.Nodes)
	copy(b[72:136], bm.ClusterName[:])
	return b, nil
}

// DecodeBitmap parses a bitmap superblock with the kernel's checks
// (md_bitmap_read_sb): magic, version 3..4, power-of-two chunk of at
// least 512 bytes, daemon_sleep ≥ 1, write_behind within limits, zero pad.
func DecodeBitmap(b []byte) (*Bitmap, error) {
	bm, err := decodeBitmap(b)
	if err != nil {
		return nil, fmt.Errorf("md: decode bitmap: %w", err)
	}
	return bm, nil
}

func decodeBitmap(b []byte) (*Bitmap, error) {
	if len(b) < BitmapHeaderSize {
		return nil, fmt.Errorf("%d bytes, need %d: %w", len(b), BitmapHeaderSize, ErrTruncated)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != BitmapMagic {
		return nil, fmt.Errorf("magic %#08x: %w", m, ErrBadMagic)
	}
	for _, c := range b[136:BitmapHeaderSize] {
		if c != 0 {
			return nil, fmt.Errorf("pad not zero: %w", ErrInvalid)
		}
	}
	bm := &Bitmap{
		Version:         le.Uint32(b[4:]),
		Events:          le.Uint64(b[24:]),
		EventsCleared:   le.Uint64(b[32:]),
		SyncSize:        le.Uint64(b[40:]),
		State:           BitmapState(le.Uint32(b[48:])),
		Chunk:           le.Uint32(b[52:]),
		DaemonSleep:     le.Uint32(b[56:]),
		WriteBehind:     le.Uint32(b[60:]),
		SectorsReserved: le.Uint32(b[64:]),
		Nodes:           le.Uint32(b[68:]),
	}
	copy(bm.UUID[:], b[8:24])
	copy(bm.ClusterName[:], b[72:136])
	if err := bm.check(); err != nil {
		return nil, err
	}
	return bm, nil
}

func (bm *Bitmap) check() error {
	if bm.Version != BitmapVersion && bm.Version != BitmapVersionLo {
		return fmt.Errorf("bitmap version %d: %w", bm.Version, ErrUnsupportedVersion)
	}
	if bm.Chunk < SectorSize || bm.Chunk&(bm.Chunk-1) != 0 {
		return fmt.Errorf("bitmap chunk %d bytes is not a power of two ≥ 512: %w", bm.Chunk, ErrInvalid)
	}
	if bm.DaemonSleep < 1 {
		return fmt.Errorf("daemon_sleep 0: %w", ErrInvalid)
	}
	if bm.WriteBehind > maxWriteBehind {
		return fmt.Errorf("write_behind %d > %d: %w", bm.WriteBehind, maxWriteBehind, ErrInvalid)
	}
	return nil
}

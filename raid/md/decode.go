package md

import (
	"encoding/binary"
	"fmt"
)

// Decode parses a version-1 superblock from b (at least 256+2*max_dev
// bytes; extra bytes are ignored) with the kernel's checks: magic, major
// version 1, max_dev ≤ 1920, known feature bits, checksum, zero padding,
// data_size ≥ 10. It does not check where the superblock was found; Read
// does that for 1.2.
func Decode(b []byte) (*Superblock, error) {
	sb, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("md: decode superblock: %w", err)
	}
	return sb, nil
}

func decode(b []byte) (*Superblock, error) {
	le := binary.LittleEndian
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%d bytes, need %d: %w", len(b), HeaderSize, ErrTruncated)
	}
	if m := le.Uint32(b[0:]); m != Magic {
		return nil, fmt.Errorf("magic %#08x: %w", m, ErrBadMagic)
	}
	if v := le.Uint32(b[4:]); v != MajorVersion {
		return nil, fmt.Errorf("major version %d: %w", v, ErrUnsupportedVersion)
	}
	maxDev := le.Uint32(b[220:])
	if maxDev > MaxDevs {
		return nil, fmt.Errorf("max_dev %d > %d: %w", maxDev, MaxDevs, ErrInvalid)
	}
	size := HeaderSize + 2*int(maxDev)
	if len(b) < size {
		return nil, fmt.Errorf("%d bytes, max_dev %d needs %d: %w", len(b), maxDev, size, ErrTruncated)
	}
	b = b[:size]
	stored := le.Uint32(b[csumOffset:])
	if want := Checksum(b); stored != want {
		return nil, fmt.Errorf("sb_csum %#x, computed %#x: %w", stored, want, ErrBadChecksum)
	}
	if le.Uint32(b[12:]) != 0 {
		return nil, fmt.Errorf("pad0 not zero: %w", ErrInvalid)
	}
	for _, c := range b[224:256] {
		if c != 0 {
			return nil, fmt.Errorf("pad3 not zero: %w", ErrInvalid)
		}
	}
	sb := &Superblock{
		FeatureMap:       Feature(le.Uint32(b[8:])),
		CTime:            Time(le.Uint64(b[64:])),
		Level:            Level(int32(le.Uint32(b[72:]))),
		Layout:           le.Uint32(b[76:]),
		Size:             le.Uint64(b[80:]),
		ChunkSize:        le.Uint32(b[88:]),
		RaidDisks:        le.Uint32(b[92:]),
		BitmapOffset:     int32(le.Uint32(b[96:])),
		NewLevel:         Level(int32(le.Uint32(b[100:]))),
		ReshapePosition:  le.Uint64(b[104:]),
		DeltaDisks:       int32(le.Uint32(b[112:])),
		NewLayout:        le.Uint32(b[116:]),
		NewChunk:         le.Uint32(b[120:]),
		NewOffset:        int32(le.Uint32(b[124:])),
		DataOffset:       le.Uint64(b[128:]),
		DataSize:         le.Uint64(b[136:]),
		SuperOffset:      le.Uint64(b[144:]),
		RecoveryOffset:   le.Uint64(b[152:]),
		DevNumber:        le.Uint32(b[160:]),
		CntCorrectedRead: le.Uint32(b[164:]),
		DevFlags:         DevFlag(b[184]),
		BBLogShift:       b[185],
		BBLogSize:        le.Uint16(b[186:]),
		BBLogOffset:      int32(le.Uint32(b[188:])),
		UTime:            Time(le.Uint64(b[192:])),
		Events:           le.Uint64(b[200:]),
		ResyncOffset:     le.Uint64(b[208:]),
		Checksum:         stored,
		DevRoles:         make([]Role, maxDev),
	}
	copy(sb.SetUUID[:], b[16:32])
	copy(sb.SetName[:], b[32:64])
	copy(sb.DeviceUUID[:], b[168:184])
	for i := range sb.DevRoles {
		sb.DevRoles[i] = Role(le.Uint16(b[HeaderSize+2*i:]))
	}
	if err := sb.check(); err != nil {
		return nil, err
	}
	return sb, nil
}

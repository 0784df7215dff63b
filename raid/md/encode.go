package md

import (
	"encoding/binary"
	"fmt"
)

// Encode returns the superblock's 256+2*max_dev bytes with sb_csum computed.
// It refuses anything Decode would refuse, so Decode(Encode(sb)) always
// succeeds. sb.Checksum is ignored (and left unchanged).
func (sb *Superblock) Encode() ([]byte, error) {
	if err := sb.check(); err != nil {
		return nil, fmt.Errorf("md: encode superblock: %w", err)
	}
	b := make([]byte, sb.EncodedSize())
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint32(b[4:], MajorVersion)
	le.PutUint32(b[8:], uint32(sb.FeatureMap))
	// 12: pad0 stays zero.
	copy(b[16:32], sb.SetUUID[:])
	copy(b[32:64], sb.SetName[:])
	le.PutUint64(b[64:], uint64(sb.CTime))
	le.PutUint32(b[72:], uint32(sb.Level))
	le.PutUint32(b[76:], sb.Layout)
	le.PutUint64(b[80:], sb.Size)
	le.PutUint32(b[88:], sb.ChunkSize)
	le.PutUint32(b[92:], sb.RaidDisks)
	le.PutUint32(b[96:], uint32(sb.BitmapOffset))
	le.PutUint32(b[100:], uint32(sb.NewLevel))
	le.PutUint64(b[104:], sb.ReshapePosition)
	le.PutUint32(b[112:], uint32(sb.DeltaDisks))
	le.PutUint32(b[116:], sb.NewLayout)
	le.PutUint32(b[120:], sb.NewChunk)
	le.PutUint32(b[124:], uint32(sb.NewOffset))
	le.PutUint64(b[128:], sb.DataOffset)
	le.PutUint64(b[136:], sb.DataSize)
	le.PutUint64(b[144:], sb.SuperOffset)
	le.PutUint64(b[152:], sb.RecoveryOffset)
	le.PutUint32(b[160:], sb.DevNumber)
	le.PutUint32(b[164:], sb.CntCorrectedRead)
	copy(b[168:184], sb.DeviceUUID[:])
	b[184] = byte(sb.DevFlags)
	b[185] = sb.BBLogShift
	le.PutUint16(b[186:], sb.BBLogSize)
	le.PutUint32(b[188:], uint32(sb.BBLogOffset))
	le.PutUint64(b[192:], uint64(sb.UTime))
	le.PutUint64(b[200:], sb.Events)
	le.PutUint64(b[208:], sb.ResyncOffset)
	le.PutUint32(b[220:], uint32(len(sb.DevRoles)))
	// 224..255: pad3 stays zero.
	for i, r := range sb.DevRoles {
		le.PutUint16(b[HeaderSize+2*i:], uint16(r))
	}
	le.PutUint32(b[csumOffset:], Checksum(b))
	return b, nil
}

// check holds the rules shared by Encode and Decode (the kernel's
// super_1_load refusals that need no device).
func (sb *Superblock) check() error {
	if len(sb.DevRoles) > MaxDevs {
		return fmt.Errorf("max_dev %d > %d: %w", len(sb.DevRoles), MaxDevs, ErrInvalid)
	}
	if extra := sb.FeatureMap &^ FeatureAll; extra != 0 {
		return fmt.Errorf("feature_map bits %#x: %w", uint32(extra), ErrUnsupportedFeature)
	}
	if sb.DataSize < 10 {
		return fmt.Errorf("data_size %d < 10 sectors: %w", sb.DataSize, ErrInvalid)
	}
	if sb.FeatureMap&FeatureRAID0Layout != 0 && sb.Level != LevelRAID0 {
		return fmt.Errorf("raid0 layout feature on %s: %w", sb.Level, ErrInvalid)
	}
	return nil
}

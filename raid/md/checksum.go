package md

import "encoding/binary"

// csumOffset is sb_csum's byte offset.
const csumOffset = 216

// Checksum computes sb_csum over b, the first 256+2*max_dev bytes of a
// superblock, exactly as the kernel's calc_sb_1_csum: the sum of the
// little-endian 32-bit words (the csum field counted as zero), plus a
// trailing 16-bit word when max_dev is odd, folded once into 32 bits.
func Checksum(b []byte) uint32 {
	var sum uint64
	i := 0
	for ; i+4 <= len(b); i += 4 {
		if i == csumOffset {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint32(b[i:]))
	}
	if len(b)-i == 2 {
		sum += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return uint32(sum&0xffffffff + sum>>32)
}

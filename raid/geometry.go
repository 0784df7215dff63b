package raid

// How mdadm 4.2 lays out a new version 1.2 member (super1.c:
// validate_geometry1, write_init_super1, add_internal_bitmap1), mirrored so
// that arrays Keep creates look like arrays mdadm creates. All sizes are in
// 512-byte sectors.
//
//	sector 0      8           8+8          data_offset
//	       | free | superblock | bitmap | bad-block log | ... | data ...
//
// The superblock is 4 KiB from the start; the bitmap (if any) 8 sectors
// (4 KiB) after the superblock; the bad-block log (8 sectors) right after
// the space reserved for the bitmap; data_offset leaves room for both plus
// reshape headroom, rounded up to 1 MiB.

const (
	oneMiB          = 2048     // sectors
	maxHeadroom     = 262144   // 128 MiB: mdadm's reshape headroom cap
	bitmapOffset    = 8        // bitmap starts 8 sectors after the superblock
	badBlockLogSize = 8        // sectors mdadm reserves for the bad-block log
	minBitmapChunk  = 64 << 20 // bytes: mdadm's default internal bitmap chunk
	maxBitmapRoom   = 256      // sectors: bitmap space cap when chunk is automatic
)

// bitmapSpace is mdadm's choose_bm_space: sectors set aside for a bitmap on
// a device (or component) of the given size.
func bitmapSpace(sectors uint64) uint64 {
	switch {
	case sectors < 128:
		return 0
	case sectors-128 >= 200*1024*1024*2:
		return 256 // > 200 GiB: 128 KiB
	case sectors-8 > 8*1024*1024*2:
		return 128 // > 8 GiB: 64 KiB
	}
	return 8
}

// dataOffset is mdadm's default data offset for a 1.2 member of the given
// size: 12 KiB of metadata, bitmap space and reshape headroom (128 MiB, or
// about 0.1% of the device but at least four chunks), rounded up to 1 MiB.
// 2048 (1 MiB) is not reachable: a 64 MiB disk gets 4096, a 4 TB disk
// 264192.
func dataOffset(deviceSectors uint64, chunkSectors uint64) uint64 {
	headroom := uint64(maxHeadroom)
	for headroom<<10 > deviceSectors && headroom/2 >= 2*chunkSectors {
		headroom >>= 1
	}
	off := 24 + bitmapSpace(deviceSectors) + headroom
	return (off + oneMiB - 1) / oneMiB * oneMiB
}

// bitmapChunk is mdadm's automatic internal bitmap chunk (bytes) for a
// bitmap covering syncSectors, on a component of componentSectors: the
// smallest power of two from 4 KiB whose bits fit the reserved room, but
// never below 64 MiB. ok is false when there is no room at all.
func bitmapChunk(syncSectors, componentSectors uint64) (chunk uint32, ok bool) {
	room := bitmapSpace(componentSectors)
	if room > maxBitmapRoom {
		room = maxBitmapRoom
	}
	if room <= 1 {
		return 0, false
	}
	maxBits := (room*512 - 256) * 8
	c := uint64(4096)
	bits := syncSectors*512/c + 1
	for bits > maxBits {
		c *= 2
		bits = (bits + 1) / 2
	}
	if c < minBitmapChunk {
		c = minBitmapChunk
	}
	if c > 1<<31 {
		return 0, false
	}
	return uint32(c), true
}

// badBlockLog is where mdadm puts the bad-block log: right after the bitmap
// space (reserved sectors after the superblock), if it fits before the
// data; otherwise in the last 8 sectors before the data. offset is signed
// sectors from the superblock; 0, 0 means no log.
func badBlockLog(dataOffset, reserved uint64) (offset int32, size uint16) {
	const sb = 8 // superblock sector
	switch {
	case dataOffset >= sb+bitmapOffset+reserved+badBlockLogSize:
		return int32(bitmapOffset + reserved), badBlockLogSize
	case dataOffset >= sb+16:
		return int32(dataOffset - badBlockLogSize - sb), badBlockLogSize
	}
	return 0, 0
}

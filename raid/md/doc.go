// Package md is the on-disk format of Linux md RAID as Keep writes it:
// the version 1.2 superblock (struct mdp_superblock_1) and the internal
// write-intent bitmap superblock (bitmap_super_t), encoded and decoded in
// pure Go, little endian, every field.
//
// It owns bytes only: Decode/Encode and DecodeBitmap/Encode, plus Read,
// Write, ReadBitmap and WriteBitmap at their fixed places on a member
// (io.ReaderAt/io.WriterAt). Planning arrays and deciding assembly are
// package raid's; talking to the kernel is raid's Kernel seam.
//
// On-disk invariants (checked by Decode as the kernel's super_1_load does,
// guaranteed by Encode):
//
//   - The superblock starts 4 KiB into the member (super_offset 8
//     sectors); it is 256 bytes plus 2 per dev_roles entry (max_dev ≤
//     1920). magic 0xa92b4efc, major_version 1, pad0 and pad3 zero,
//     feature_map within the known bits, data_size ≥ 10, the RAID0 layout
//     feature only on RAID0; Read also checks super_offset and that the
//     data area starts after the superblock.
//   - sb_csum is the kernel's calc_sb_1_csum: the sum of the little-endian
//     32-bit words of the first 256+2·max_dev bytes with the csum word as
//     zero, plus a final 16-bit word when max_dev is odd, the 64-bit sum
//     folded once ((s & 0xffffffff) + (s >> 32)) and truncated to 32 bits.
//   - ctime/utime: low 40 bits seconds, high 24 bits microseconds.
//   - dev_roles[dev_number] is a member's role: a slot, 0xffff spare,
//     0xfffe faulty, 0xfffd journal.
//   - Whatever decodes re-encodes to the identical bytes (set_name is
//     kept raw), so Keep can rewrite a superblock mdadm or the kernel
//     wrote without disturbing what it does not interpret.
//   - The bitmap superblock ("bitm", version 4, or 3) sits bitmap_offset
//     sectors after the md superblock (mdadm and Keep: 8, i.e. at 8 KiB
//     on the member); its bits follow, one per Chunk bytes, padded to
//     4 KiB. A new bitmap is written with every bit set.
//
// Testing: table tests for each field offset (pinned to md_p.h), every
// refusal, the checksum's carry fold and odd max_dev; a golden checksum
// that mdadm reported correct; FuzzDecode and FuzzDecodeBitmap assert
// decode→encode is the identity on whatever decodes. The oracle tests
// write our superblocks to sparse 64 MiB files and parse `mdadm --examine`
// (checksum "correct", level, devices, UUIDs, name, times, offsets, role,
// array state, bad-block log, bitmap offset) and `mdadm --examine-bitmap`
// (on the bitmap area cut out of a member: mdadm reads a regular file as
// an external bitmap, the same format). Missing mdadm fails those tests
// ("run make deps"); only -short skips them.
package md

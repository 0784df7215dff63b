package seal

import (
	"encoding/binary"
	"math/bits"
)

// The x86 branch filter (CodecZstdX86): before compression, the 32-bit
// relative displacement of every x86 CALL (E8) and JMP (E9) whose
// displacement is small (its top byte 00 or FF) is replaced by the
// absolute target, modulo 2^25 and sign-extended. Calls to one function
// from many places then carry the same bytes, which the compressor finds
// as repeats: on the benchmark's ELF chunks zstd (fastest) stores 4.3 %
// less. It is the idea of xz's and 7-Zip's BCJ x86 filter, in a simpler
// form whose decisions never depend on bytes the filter changes:
//
//   - At an E8 or E9 opcode byte the next 4 bytes are its operand and are
//     always skipped over afterwards, converted or not; so an opcode byte is
//     never inside a converted operand, and the decision at it reads only
//     the opcode and the operand's top byte.
//   - An operand is converted only when its top byte is 00 or FF, and the
//     result's top byte is again 00 or FF (sign extension of 25 bits), so
//     the inverse makes the same decision on the filtered bytes and
//     recovers the original: for such an operand, v = sext25(v mod 2^25).
//
// The filter is length-preserving and position-dependent (the position is
// the offset in the blob), and it is an involution in the sense that
// x86Decode(x86Encode(b)) == b for every b (FuzzX86 checks it).

// x86Encode filters b in place for compression.
func x86Encode(b []byte) { x86Filter(b, true) }

// x86Decode undoes x86Encode in place.
func x86Decode(b []byte) { x86Filter(b, false) }

func x86Filter(b []byte, encode bool) {
	for i := 0; i+5 <= len(b); {
		if i+8 <= len(b) {
			// Eight bytes at a time up to the next E8 or E9 (most
			// bytes are neither): the lowest flagged byte of the
			// zero-byte test is exact.
			x := binary.LittleEndian.Uint64(b[i:])&0xFEFEFEFEFEFEFEFE ^ 0xE8E8E8E8E8E8E8E8
			z := (x - 0x0101010101010101) &^ x & 0x8080808080808080
			if z == 0 {
				i += 8
				continue
			}
			if i += bits.TrailingZeros64(z) / 8; i+5 > len(b) {
				break
			}
		}
		if b[i]&0xFE != 0xE8 {
			i++
			continue
		}
		if top := b[i+4]; top == 0 || top == 0xFF {
			v := binary.LittleEndian.Uint32(b[i+1:])
			pos := uint32(i + 5) // the address of the next instruction
			if encode {
				v += pos
			} else {
				v -= pos
			}
			v &= 1<<25 - 1
			if v&(1<<24) != 0 {
				v |= 0xFF000000
			}
			binary.LittleEndian.PutUint32(b[i+1:], v)
		}
		i += 5
	}
}

// x86Window and x86MinDensity decide whether a plaintext looks like x86
// machine code: up to three windows of x86Window bytes (start, middle,
// end) are sampled, and it does when they hold at least x86MinDensity
// convertible branches per KiB. Measured on the benchmark corpus (file
// chunks of 1 MiB average): 4 per KiB filters 496 of 1528 MB, nearly all
// of it ELF code, and gains 12.6 MB of compressed size against 1.3 MB lost
// on chunks it misjudges; ELF data sections and text fall below it. The
// sample costs about 2 % of a pass over the data.
const (
	x86Window     = 8 << 10
	x86MinDensity = 4
	x86MinSize    = 4 << 10 // smaller plaintexts are not worth the test
)

// looksX86 reports whether p is probably x86 machine code.
func looksX86(p []byte) bool {
	if len(p) < x86MinSize {
		return false
	}
	n, sampled := 0, len(p)
	if len(p) <= 3*x86Window {
		n = x86Branches(p)
	} else {
		mid := len(p)/2 - x86Window/2
		n = x86Branches(p[:x86Window]) + x86Branches(p[mid:mid+x86Window]) + x86Branches(p[len(p)-x86Window:])
		sampled = 3 * x86Window
	}
	return n*1024 >= x86MinDensity*sampled
}

// x86Branches counts the operands x86Encode would convert in w.
func x86Branches(w []byte) int {
	n := 0
	for i := 0; i+5 <= len(w); {
		if w[i]&0xFE != 0xE8 {
			i++
			continue
		}
		if top := w[i+4]; top == 0 || top == 0xFF {
			n++
		}
		i += 5
	}
	return n
}

package chunker

import (
	"crypto/sha256"
	"encoding/binary"
)

// Seed selects the gear table. Vaults use a secret seed derived from their
// master key (see engine/keys), so chunk boundaries differ between vaults.
type Seed [32]byte

// gearTable is the byte → 64-bit value table of the gear rolling hash.
type gearTable [256]uint64

// gearDomain separates the table derivation from any other use of the seed.
const gearDomain = "keep/chunker/gear/v1"

// newGearTable expands seed into a gear table: entry block i (4 values)
// is SHA-256(gearDomain || seed || uint32be(i)). Changing this changes every
// chunk boundary of every vault: it is part of the storage format.
func newGearTable(seed Seed) *gearTable {
	var g gearTable
	var in [len(gearDomain) + len(seed) + 4]byte
	copy(in[:], gearDomain)
	copy(in[len(gearDomain):], seed[:])
	for i := 0; i < len(g)/4; i++ {
		binary.BigEndian.PutUint32(in[len(in)-4:], uint32(i))
		sum := sha256.Sum256(in[:])
		for j := range 4 {
			g[4*i+j] = binary.LittleEndian.Uint64(sum[8*j:])
		}
	}
	return &g
}

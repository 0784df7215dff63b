package smart

import (
	"encoding/binary"
	"fmt"
	"math/big"
)

// Uint128 is an unsigned 128-bit NVMe counter (little endian on the
// wire). It marshals to JSON as a plain decimal number.
type Uint128 struct {
	Lo, Hi uint64
}

func le128(b []byte) Uint128 {
	return Uint128{Lo: binary.LittleEndian.Uint64(b), Hi: binary.LittleEndian.Uint64(b[8:])}
}

// Uint64 returns the value and whether it fits in 64 bits.
func (u Uint128) Uint64() (uint64, bool) { return u.Lo, u.Hi == 0 }

// IsZero reports u == 0.
func (u Uint128) IsZero() bool { return u.Lo == 0 && u.Hi == 0 }

// Big returns u as a big.Int.
func (u Uint128) Big() *big.Int {
	b := new(big.Int).SetUint64(u.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.Lo))
}

// String is the decimal value.
func (u Uint128) String() string {
	if u.Hi == 0 {
		return fmt.Sprint(u.Lo)
	}
	return u.Big().String()
}

// MarshalJSON writes the decimal number.
func (u Uint128) MarshalJSON() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalJSON reads a decimal number (or a quoted one) of at most 128
// bits.
func (u *Uint128) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 128 {
		return fmt.Errorf("smart: %q is not an unsigned 128-bit number", s)
	}
	mask := new(big.Int).SetUint64(^uint64(0))
	u.Lo = new(big.Int).And(v, mask).Uint64()
	u.Hi = new(big.Int).Rsh(v, 64).Uint64()
	return nil
}

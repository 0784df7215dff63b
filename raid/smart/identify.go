package smart

import (
	"encoding/binary"
	"fmt"
)

// Identity is what Keep takes from ATA IDENTIFY DEVICE (ACS-3 7.12.7).
type Identity struct {
	Model    string `json:"model"`    // words 27-46
	Serial   string `json:"serial"`   // words 10-19
	Firmware string `json:"firmware"` // words 23-26
	// Sectors is the number of user-addressable logical sectors: words
	// 100-103 when 48-bit addressing is supported and they are non-zero,
	// else words 60-61.
	Sectors            uint64 `json:"sectors"`
	LogicalSectorSize  uint32 `json:"logical_sector_size"`  // words 106, 117-118; 512 by default
	PhysicalSectorSize uint32 `json:"physical_sector_size"` // word 106 bits 13, 3:0
	LBA48              bool   `json:"lba48"`                // word 83 bit 10
	// RotationRate is word 217: 0 not reported, 1 non-rotating (SSD),
	// 0x0401-0xFFFE nominal rpm.
	RotationRate   uint16 `json:"rotation_rate"`
	SMARTSupported bool   `json:"smart_supported"` // word 82 bit 0
	SMARTEnabled   bool   `json:"smart_enabled"`   // word 85 bit 0
	// WWN is words 108-111 (NAA, IEEE OUI, unique id), zero when the
	// device reports none (word 84/87 bit 8).
	WWN uint64 `json:"wwn"`
}

// CapacityBytes is Sectors × LogicalSectorSize.
func (id *Identity) CapacityBytes() uint64 { return id.Sectors * uint64(id.LogicalSectorSize) }

// SSD reports a non-rotating device (word 217 = 1).
func (id *Identity) SSD() bool { return id.RotationRate == 1 }

// RPM is the nominal rotation rate, 0 when not reported or an SSD.
func (id *Identity) RPM() uint16 {
	if id.RotationRate >= 0x0401 && id.RotationRate != 0xFFFF {
		return id.RotationRate
	}
	return 0
}

// WWNString formats the WWN as Linux names it in /dev/disk/by-id
// ("0x5000c500a1b2c3d4"), empty when there is none.
func (id *Identity) WWNString() string {
	if id.WWN == 0 {
		return ""
	}
	return fmt.Sprintf("0x%016x", id.WWN)
}

const (
	identifyLen     = 512
	maxLBA48Sectors = 1 << 48
)

// DecodeIdentify parses the 512-byte IDENTIFY DEVICE data (extra bytes
// are ignored). Strings are ATA strings: two characters per word, the
// first in the high byte; they are trimmed of spaces and NULs and any
// byte outside printable ASCII becomes '?'. Words 82-84 count only when
// word 83 bits 15:14 are 01, words 85-87 only when word 87's are.
// When word 255's low byte is the 0xA5 signature, the 512 bytes must sum
// to zero (ErrBadChecksum). All-zero data is ErrMalformed, as is a
// sector count of 2^48 or more.
func DecodeIdentify(b []byte) (*Identity, error) {
	id, err := decodeIdentify(b)
	if err != nil {
		return nil, fmt.Errorf("smart: decode IDENTIFY: %w", err)
	}
	return id, nil
}

func decodeIdentify(b []byte) (*Identity, error) {
	if len(b) < identifyLen {
		return nil, fmt.Errorf("%d bytes, need %d: %w", len(b), identifyLen, ErrTruncated)
	}
	b = b[:identifyLen]
	w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return nil, fmt.Errorf("all zero: %w", ErrMalformed)
	}
	if w(255)&0xFF == 0xA5 {
		if s := sum8(b); s != 0 {
			return nil, fmt.Errorf("integrity word %#04x, sum %#02x: %w", w(255), s, ErrBadChecksum)
		}
	}
	id := &Identity{
		Serial:             ataString(b[20:40]),
		Firmware:           ataString(b[46:54]),
		Model:              ataString(b[54:94]),
		LogicalSectorSize:  ataSectorSize,
		PhysicalSectorSize: ataSectorSize,
		RotationRate:       w(217),
	}
	valid82 := w(83)&0xC000 == 0x4000
	valid85 := w(87)&0xC000 == 0x4000
	id.SMARTSupported = valid82 && w(82)&0x0001 != 0
	id.SMARTEnabled = valid85 && w(85)&0x0001 != 0
	id.LBA48 = valid82 && w(83)&(1<<10) != 0
	id.Sectors = uint64(w(60)) | uint64(w(61))<<16
	if id.LBA48 {
		s48 := uint64(w(100)) | uint64(w(101))<<16 | uint64(w(102))<<32 | uint64(w(103))<<48
		if s48 >= maxLBA48Sectors {
			return nil, fmt.Errorf("%d sectors in words 100-103: %w", s48, ErrMalformed)
		}
		if s48 != 0 {
			id.Sectors = s48
		}
	}
	if w106 := w(106); w106&0xC000 == 0x4000 {
		if w106&(1<<12) != 0 {
			// Words 117-118: logical sector size in words.
			lss := 2 * (uint64(w(117)) | uint64(w(118))<<16)
			if lss >= 512 && lss <= 1<<16 {
				id.LogicalSectorSize = uint32(lss)
			}
		}
		id.PhysicalSectorSize = id.LogicalSectorSize
		if w106&(1<<13) != 0 {
			id.PhysicalSectorSize = id.LogicalSectorSize << (w106 & 0x0F)
		}
	}
	if (valid82 && w(84)&(1<<8) != 0) || (valid85 && w(87)&(1<<8) != 0) {
		id.WWN = uint64(w(108))<<48 | uint64(w(109))<<32 | uint64(w(110))<<16 | uint64(w(111))
	}
	return id, nil
}

// ataString decodes an ATA string field: bytes swapped in each 16-bit
// word, padded with spaces (or NULs), printable ASCII only.
func ataString(b []byte) string {
	out := make([]byte, len(b))
	for i := 0; i+1 < len(b); i += 2 {
		out[i], out[i+1] = b[i+1], b[i]
	}
	return asciiString(out)
}

// sum8 is the byte sum modulo 256 used by every ATA data structure
// checksum (the structure's last byte makes it zero).
func sum8(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

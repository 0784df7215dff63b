package smart

import "fmt"

// SCSI sense keys this package names (SPC-4 table 28).
const (
	SenseKeyNoSense        = 0x0
	SenseKeyRecoveredError = 0x1
	SenseKeyNotReady       = 0x2
	SenseKeyMediumError    = 0x3
	SenseKeyHardwareError  = 0x4
	SenseKeyIllegalRequest = 0x5
	SenseKeyUnitAttention  = 0x6
	SenseKeyAbortedCommand = 0xB
)

func senseKeyName(k uint8) string {
	names := [...]string{
		"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
		"HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
		"BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
		"reserved", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
	}
	return fmt.Sprintf("%s (%#x)", names[k&0xF], k&0xF)
}

// ATARegs is the ATA register set a device returns: status and error,
// count, LBA, device. With Ext (48-bit) the high bytes of Count and LBA
// are meaningful. SMART RETURN STATUS answers in LBA bits 23:8.
type ATARegs struct {
	Status uint8
	Error  uint8
	Device uint8
	Count  uint16
	LBA    uint64 // 48 bits
	Ext    bool
}

// LBAMid and LBAHigh are the 28-bit "cylinder" registers: LBA 15:8 and
// 23:16.
func (r ATARegs) LBAMid() uint8  { return uint8(r.LBA >> 8) }
func (r ATARegs) LBAHigh() uint8 { return uint8(r.LBA >> 16) }

// Sense is decoded SCSI sense data, with the ATA registers when the SAT
// layer returned them.
type Sense struct {
	Response uint8 // response code: 0x70/0x71 fixed, 0x72/0x73 descriptor
	Key      uint8
	ASC      uint8
	ASCQ     uint8
	// HasATA: the registers came back — an ATA Status Return descriptor
	// (code 0x09) in descriptor format, or the ATA fields of fixed format
	// with the VALID bit set.
	HasATA bool
	ATA    ATARegs
}

// Descriptor format sense constants (SPC-4 4.5.2, SAT-3 12.2.2.7).
const (
	senseHeaderLen   = 8
	senseFixedMinLen = 14 // through ASCQ
	descATAStatus    = 0x09
	descATAStatusLen = 14 // 2 header + 12
)

// DecodeSense parses SCSI sense data in fixed (0x70/0x71) or descriptor
// (0x72/0x73) format. In descriptor format it walks the descriptor list
// (bounded by both the additional length and len(b)) for the ATA Status
// Return descriptor; descriptors that run past the end are ignored. In
// fixed format the ATA registers sit in INFORMATION (bytes 3-6: error,
// status, device, count) and COMMAND-SPECIFIC INFORMATION (byte 8 flags,
// 9-11: LBA 7:0, 15:8, 23:16) as SAT-3 table 211 defines and libata
// writes them; they are taken only when the VALID bit is set (kernels
// before the 2024 libata fix wrote them at other offsets without it).
func DecodeSense(b []byte) (Sense, error) {
	if len(b) == 0 {
		return Sense{}, fmt.Errorf("smart: sense data: empty: %w", ErrTruncated)
	}
	var s Sense
	s.Response = b[0] & 0x7F
	switch s.Response {
	case 0x72, 0x73:
		if len(b) < senseHeaderLen {
			return Sense{}, fmt.Errorf("smart: descriptor sense: %d bytes, need %d: %w", len(b), senseHeaderLen, ErrTruncated)
		}
		s.Key = b[1] & 0x0F
		s.ASC = b[2]
		s.ASCQ = b[3]
		end := senseHeaderLen + int(b[7])
		if end > len(b) {
			end = len(b)
		}
		for i := senseHeaderLen; i+2 <= end; {
			n := 2 + int(b[i+1])
			if i+n > end {
				break
			}
			if b[i] == descATAStatus && n >= descATAStatusLen && !s.HasATA {
				d := b[i : i+n]
				s.HasATA = true
				s.ATA = ATARegs{
					Ext:    d[2]&0x01 != 0,
					Error:  d[3],
					Count:  uint16(d[4])<<8 | uint16(d[5]),
					LBA:    uint64(d[7]) | uint64(d[9])<<8 | uint64(d[11])<<16 | uint64(d[6])<<24 | uint64(d[8])<<32 | uint64(d[10])<<40,
					Device: d[12],
					Status: d[13],
				}
			}
			i += n
		}
	case 0x70, 0x71:
		if len(b) < senseFixedMinLen {
			return Sense{}, fmt.Errorf("smart: fixed sense: %d bytes, need %d: %w", len(b), senseFixedMinLen, ErrTruncated)
		}
		s.Key = b[2] & 0x0F
		s.ASC = b[12]
		s.ASCQ = b[13]
		if b[0]&0x80 != 0 {
			s.HasATA = true
			s.ATA = ATARegs{
				Error:  b[3],
				Status: b[4],
				Device: b[5],
				Count:  uint16(b[6]),
				Ext:    b[8]&0x80 != 0,
				LBA:    uint64(b[9]) | uint64(b[10])<<8 | uint64(b[11])<<16,
			}
		}
	default:
		return Sense{}, fmt.Errorf("smart: sense response code %#02x: %w", s.Response, ErrMalformed)
	}
	return s, nil
}

package smart

import (
	"context"
	"fmt"
)

// ATACmd is the ATA taskfile of one command as it goes to the device.
// Features, Count and LBA carry 16/16/48 bits when Ext (a 48-bit "EXT"
// command) and 8/8/28 bits otherwise.
type ATACmd struct {
	Command  uint8
	Features uint16
	Count    uint16
	LBA      uint64
	Device   uint8
	Ext      bool
	// CheckCondition asks the SAT layer to return the registers even on
	// success (CK_COND=1): SMART RETURN STATUS answers in LBA 23:8.
	CheckCondition bool
}

// ATADevice is the seam between the ATA SMART reader and the disk: one
// ATA command through SCSI/ATA Translation. The Linux implementation is
// LinuxATA (SG_IO, ATA PASS-THROUGH(16)); tests use fakes.
//
// With len(buf) > 0 the command is PIO data-in and must fill buf exactly
// (len(buf) = 512 × cmd.Count); with an empty buf it is non-data. The
// returned registers are nil when the transport gave none back (no
// CK_COND, or a SATL that ignores it). A command the device fails is an
// *ATAError; one the SCSI layer refuses is a *SenseError; a short
// transfer wraps ErrTruncated; transport failures wrap ErrTransport.
// ATACommand returns ctx.Err() without issuing anything once ctx is done.
type ATADevice interface {
	ATACommand(ctx context.Context, cmd ATACmd, buf []byte) (*ATARegs, error)
}

// ATA PASS-THROUGH(16) (SAT-3 12.2.2).
const (
	opATAPassThrough16 = 0x85
	protoNonData       = 3
	protoPIODataIn     = 4
	cdb2CKCond         = 0x20
	cdb2TDirIn         = 0x08
	cdb2BytBlok        = 0x04
	cdb2TLenCount      = 0x02 // transfer length in the COUNT field
)

// ATA status and error register bits.
const (
	ataStatusERR  = 0x01
	ataStatusDF   = 0x20
	ataErrorABRT  = 0x04
	ataSectorSize = 512
)

// passThrough16 builds the 16-byte CDB for cmd, data-in when dataIn.
// QEMU's AHCI disk answered `85 08 0e 00 d0 00 01 00 00 00 4f 00 c2 00 b0
// 00` (SMART READ DATA) in the measurements (notes/qemu.md §4).
func passThrough16(cmd ATACmd, dataIn bool) [16]byte {
	var c [16]byte
	c[0] = opATAPassThrough16
	proto := byte(protoNonData)
	if dataIn {
		proto = protoPIODataIn
		c[2] = cdb2TDirIn | cdb2BytBlok | cdb2TLenCount
	}
	c[1] = proto << 1
	if cmd.Ext {
		c[1] |= 0x01
		c[3] = byte(cmd.Features >> 8)
		c[5] = byte(cmd.Count >> 8)
		c[7] = byte(cmd.LBA >> 24)
		c[9] = byte(cmd.LBA >> 32)
		c[11] = byte(cmd.LBA >> 40)
	}
	if cmd.CheckCondition {
		c[2] |= cdb2CKCond
	}
	c[4] = byte(cmd.Features)
	c[6] = byte(cmd.Count)
	c[8] = byte(cmd.LBA)
	c[10] = byte(cmd.LBA >> 8)
	c[12] = byte(cmd.LBA >> 16)
	c[13] = cmd.Device
	if !cmd.Ext {
		c[13] |= byte(cmd.LBA>>24) & 0x0F
	}
	c[14] = cmd.Command
	return c
}

// SCSI status bytes and SG_IO status fields (scsi/sg.h, scsi_proto.h).
const (
	scsiStatusGood           = 0x00
	scsiStatusCheckCondition = 0x02
	sgDriverSense            = 0x08
	sgDriverMask             = 0x07 // DRIVER_BUSY..DRIVER_HARD; 0x08 is only "sense follows"
)

// sgOutcome is what SG_IO reports back about one command.
type sgOutcome struct {
	status       uint8  // SCSI status
	hostStatus   uint16 // DID_*
	driverStatus uint16 // DRIVER_*
	sense        []byte // sb_len_wr bytes
	resid        int32  // dxfer_len minus bytes moved
	dxferLen     int
}

// interpret turns an SG_IO outcome into registers or an error, the
// CHECK CONDITION rules of SAT: "ATA pass-through information available"
// (RECOVERED ERROR 00/1D) and NO SENSE are success with registers; ATA
// registers with ERR or DF are an *ATAError; any other sense is a
// *SenseError. Sense data that came with GOOD status is used for the
// registers when it decodes, and ignored otherwise.
func (o sgOutcome) interpret(cmd ATACmd) (*ATARegs, error) {
	if o.hostStatus != 0 {
		return nil, fmt.Errorf("SG_IO host status %#x: %w", o.hostStatus, ErrTransport)
	}
	if o.driverStatus&sgDriverMask != 0 {
		return nil, fmt.Errorf("SG_IO driver status %#x: %w", o.driverStatus, ErrTransport)
	}
	var regs *ATARegs
	switch o.status &^ 0x01 { // bit 0 is reserved/vendor in the status byte
	case scsiStatusGood:
		if len(o.sense) > 0 {
			if s, err := DecodeSense(o.sense); err == nil && s.HasATA {
				r := s.ATA
				regs = &r
			}
		}
	case scsiStatusCheckCondition:
		s, err := DecodeSense(o.sense)
		if err != nil {
			return nil, fmt.Errorf("check condition with unusable sense data: %w", err)
		}
		if s.HasATA && s.ATA.Status&(ataStatusERR|ataStatusDF) != 0 {
			return nil, &ATAError{Command: cmd.Command, Features: uint8(cmd.Features), Status: s.ATA.Status, ErrorReg: s.ATA.Error}
		}
		if s.Key != SenseKeyRecoveredError && s.Key != SenseKeyNoSense {
			return nil, &SenseError{Sense: s}
		}
		if s.HasATA {
			r := s.ATA
			regs = &r
		}
	default:
		return nil, fmt.Errorf("SCSI status %#02x: %w", o.status, ErrTransport)
	}
	if o.dxferLen > 0 && o.resid != 0 {
		if o.resid < 0 || int(o.resid) > o.dxferLen {
			return nil, fmt.Errorf("SG_IO resid %d of %d bytes: %w", o.resid, o.dxferLen, ErrTransport)
		}
		return nil, fmt.Errorf("short transfer: %d of %d bytes: %w", o.dxferLen-int(o.resid), o.dxferLen, ErrTruncated)
	}
	return regs, nil
}

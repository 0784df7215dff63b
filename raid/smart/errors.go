package smart

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with the device and command detail. Callers
// branch on them with errors.Is; raw kernel output never stands in for
// them.
var (
	// ErrNoSMART: the device has no SMART at all — virtio, md, loop and
	// device-mapper disks, SCSI disks that refuse ATA PASS-THROUGH, ATA
	// devices without the SMART feature set. A clean state, not a fault:
	// the disk's health is simply not observable.
	ErrNoSMART = errors.New("smart: device has no SMART")
	// ErrTruncated: fewer bytes than the structure needs, or a transfer
	// that moved fewer bytes than asked (SG_IO resid).
	ErrTruncated = errors.New("smart: truncated")
	// ErrBadChecksum: an ATA data structure (IDENTIFY with the 0xA5
	// signature, SMART data, SMART thresholds) whose bytes do not sum to
	// zero modulo 256. The data is not used.
	ErrBadChecksum = errors.New("smart: bad checksum")
	// ErrMalformed: bytes that have the right length but cannot be what
	// they claim (all-zero IDENTIFY, unknown sense response code, an
	// impossible sector count or LBA format).
	ErrMalformed = errors.New("smart: malformed")
	// ErrTransport: the command did not reach the device or did not
	// complete at the transport level (SG_IO host or driver status, a
	// SCSI status other than GOOD or CHECK CONDITION).
	ErrTransport = errors.New("smart: transport error")
)

// ATAError is an ATA command that the device completed with ERR (or DF,
// device fault) set in its status register — typically ABRT in the error
// register: command not supported, SMART disabled.
type ATAError struct {
	Command  uint8 // the ATA command (0xEC, 0xB0)
	Features uint8 // the SMART subcommand for 0xB0
	Status   uint8 // ATA status register
	ErrorReg uint8 // ATA error register
}

func (e *ATAError) Error() string {
	return fmt.Sprintf("smart: ATA command %#02x/%#02x failed: status %#02x error %#02x%s",
		e.Command, e.Features, e.Status, e.ErrorReg, e.what())
}

func (e *ATAError) what() string {
	switch {
	case e.Status&ataStatusDF != 0:
		return " (device fault)"
	case e.ErrorReg&ataErrorABRT != 0:
		return " (aborted)"
	}
	return ""
}

// Aborted reports whether the device refused the command (ABRT): not
// supported, or not allowed in the present state.
func (e *ATAError) Aborted() bool { return e.ErrorReg&ataErrorABRT != 0 }

// SenseError is a SCSI CHECK CONDITION that is neither "ATA pass-through
// information available" nor an ATA error with registers: the SCSI layer
// (or a SAT bridge) refused or failed the command itself. Key 0x5 ILLEGAL
// REQUEST with ASC 0x20/0x24 means the device does not take ATA
// PASS-THROUGH at all.
type SenseError struct {
	Sense Sense
}

func (e *SenseError) Error() string {
	return fmt.Sprintf("smart: SCSI check condition: sense key %s, asc/ascq %#02x/%#02x",
		senseKeyName(e.Sense.Key), e.Sense.ASC, e.Sense.ASCQ)
}

// IllegalRequest reports whether the SCSI device refused the CDB itself
// (sense key ILLEGAL REQUEST): no SAT layer, or not an ATA device.
func (e *SenseError) IllegalRequest() bool { return e.Sense.Key == SenseKeyIllegalRequest }

// NVMeStatusError is an NVMe admin command that completed with a non-zero
// status field (the positive return value of NVME_IOCTL_ADMIN_CMD).
type NVMeStatusError struct {
	Opcode uint8
	Status uint16 // completion status without the phase bit: SC 7:0, SCT 10:8, DNR 14
}

// SCT is the status code type (0 generic, 1 command specific, 2 media).
func (e *NVMeStatusError) SCT() uint8 { return uint8(e.Status>>8) & 0x7 }

// SC is the status code within its type.
func (e *NVMeStatusError) SC() uint8 { return uint8(e.Status) }

func (e *NVMeStatusError) Error() string {
	return fmt.Sprintf("smart: NVMe admin opcode %#02x failed: status %#04x (sct %d sc %#02x)",
		e.Opcode, e.Status, e.SCT(), e.SC())
}

package smart

import (
	"context"
	"errors"
	"fmt"
)

// ATA commands and SMART subcommands (ACS-3).
const (
	ATACmdIdentify        = 0xEC
	ATACmdSMART           = 0xB0
	SMARTReadData         = 0xD0
	SMARTReadThresholds   = 0xD1
	SMARTReturnStatus     = 0xDA
	smartLBAMid           = 0x4F
	smartLBAHigh          = 0xC2
	smartLBAMidExceeded   = 0xF4
	smartLBAHighExceeded  = 0x2C
	smartSignatureLBA     = uint64(smartLBAHigh)<<16 | uint64(smartLBAMid)<<8
	smartExceededSigLBA   = uint64(smartLBAHighExceeded)<<16 | uint64(smartLBAMidExceeded)<<8
	smartStatusMaskLBA    = 0xFFFF00
	smartSubcommandLength = 1 // sectors
)

// SMARTStatus is the device's own overall verdict (SMART RETURN STATUS).
type SMARTStatus string

const (
	StatusPassed  SMARTStatus = "passed"  // LBA mid/high 4F/C2
	StatusFailing SMARTStatus = "failing" // F4/2C: a threshold is exceeded
	// StatusUnknown: no registers came back, or neither signature.
	StatusUnknown SMARTStatus = "unknown"
)

// DecodeReturnStatus reads SMART RETURN STATUS registers (nil: none came
// back).
func DecodeReturnStatus(r *ATARegs) SMARTStatus {
	if r == nil {
		return StatusUnknown
	}
	switch r.LBA & smartStatusMaskLBA {
	case smartSignatureLBA:
		return StatusPassed
	case smartExceededSigLBA:
		return StatusFailing
	}
	return StatusUnknown
}

// ATAHealth is everything read from an ATA disk.
type ATAHealth struct {
	Identity Identity
	// Data, Thresholds and Status are absent (nil, nil, unknown) when
	// SMART is disabled. Thresholds is also nil when the device aborts
	// READ THRESHOLDS (obsolete since ACS-2; some drives refuse it).
	Data       *SMARTData
	Thresholds *Thresholds
	Status     SMARTStatus
}

// ReadATA reads identity and SMART from dev: IDENTIFY DEVICE, then (when
// SMART is supported and enabled) SMART READ DATA, READ THRESHOLDS and
// RETURN STATUS (with CK_COND). Nothing is written and SMART is never
// enabled: Keep only observes.
//
// A device that refuses ATA PASS-THROUGH (ILLEGAL REQUEST), aborts
// IDENTIFY DEVICE (ATAPI), or lacks the SMART feature set is ErrNoSMART.
func ReadATA(ctx context.Context, dev ATADevice) (*ATAHealth, error) {
	buf := make([]byte, identifyLen)
	if _, err := dev.ATACommand(ctx, ATACmd{Command: ATACmdIdentify, Count: 1}, buf); err != nil {
		var se *SenseError
		var ae *ATAError
		if errors.As(err, &se) && se.IllegalRequest() || errors.As(err, &ae) && ae.Aborted() {
			return nil, fmt.Errorf("smart: IDENTIFY DEVICE: %w (%w)", ErrNoSMART, err)
		}
		return nil, fmt.Errorf("smart: IDENTIFY DEVICE: %w", err)
	}
	id, err := DecodeIdentify(buf)
	if err != nil {
		return nil, err
	}
	h := &ATAHealth{Identity: *id, Status: StatusUnknown}
	if !id.SMARTSupported {
		return nil, fmt.Errorf("smart: %q %q: SMART feature set not supported: %w", id.Model, id.Serial, ErrNoSMART)
	}
	if !id.SMARTEnabled {
		return h, nil
	}

	data := make([]byte, smartPageLen)
	if _, err := dev.ATACommand(ctx, smartCmd(SMARTReadData, false), data); err != nil {
		return nil, fmt.Errorf("smart: SMART READ DATA: %w", err)
	}
	if h.Data, err = DecodeSMARTData(data); err != nil {
		return nil, err
	}

	th := make([]byte, smartPageLen)
	if _, err := dev.ATACommand(ctx, smartCmd(SMARTReadThresholds, false), th); err != nil {
		var ae *ATAError
		if !errors.As(err, &ae) || !ae.Aborted() {
			return nil, fmt.Errorf("smart: SMART READ THRESHOLDS: %w", err)
		}
	} else if h.Thresholds, err = DecodeThresholds(th); err != nil {
		return nil, err
	}

	regs, err := dev.ATACommand(ctx, smartCmd(SMARTReturnStatus, true), nil)
	if err != nil {
		return nil, fmt.Errorf("smart: SMART RETURN STATUS: %w", err)
	}
	h.Status = DecodeReturnStatus(regs)
	return h, nil
}

// smartCmd is the SMART command with subcommand feature: LBA mid/high
// carry the 4F/C2 signature, data-in subcommands move one sector.
func smartCmd(feature uint8, returnStatus bool) ATACmd {
	c := ATACmd{Command: ATACmdSMART, Features: uint16(feature), LBA: smartSignatureLBA}
	if returnStatus {
		c.CheckCondition = true
	} else {
		c.Count = smartSubcommandLength
	}
	return c
}

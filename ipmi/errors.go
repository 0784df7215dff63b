package ipmi

import (
	"errors"
	"fmt"
)

// ErrNoBMC means the machine has no BMC reachable through the Linux IPMI
// device interface: the device node is missing, or the kernel reports no
// such device (ENODEV/ENXIO). Callers treat it as a clean state ("no BMC"),
// not as a failure.
var ErrNoBMC = errors.New("no BMC")

// ErrTimeout means no response arrived within the per-command timeout on
// every attempt.
var ErrTimeout = errors.New("ipmi: command timed out")

// ErrShortResponse means the response carried fewer bytes than the command
// defines. Extra bytes are never an error (ipmi_sim appends garbage).
var ErrShortResponse = errors.New("ipmi: response too short")

// ErrClosed is returned by a Client after Close.
var ErrClosed = errors.New("ipmi: client closed")

// CompletionCode is the first byte of every IPMI response. The named
// constants are error values, so callers can write
// errors.Is(err, ipmi.ErrInvalidCommand).
type CompletionCode byte

// Standard completion codes (IPMI 2.0 table 5-2). Codes 0x80-0xBE are
// command-specific and have no generic name.
const (
	ErrNodeBusy               CompletionCode = 0xC0
	ErrInvalidCommand         CompletionCode = 0xC1
	ErrInvalidCommandForLUN   CompletionCode = 0xC2
	ErrBMCTimeout             CompletionCode = 0xC3
	ErrOutOfSpace             CompletionCode = 0xC4
	ErrReservationCanceled    CompletionCode = 0xC5
	ErrRequestTruncated       CompletionCode = 0xC6
	ErrRequestLengthInvalid   CompletionCode = 0xC7
	ErrRequestFieldTooLong    CompletionCode = 0xC8
	ErrParameterOutOfRange    CompletionCode = 0xC9
	ErrCannotReturnBytes      CompletionCode = 0xCA
	ErrNotPresent             CompletionCode = 0xCB
	ErrInvalidDataField       CompletionCode = 0xCC
	ErrIllegalForRecord       CompletionCode = 0xCD
	ErrResponseUnavailable    CompletionCode = 0xCE
	ErrDuplicateRequest       CompletionCode = 0xCF
	ErrSDRUpdateMode          CompletionCode = 0xD0
	ErrFirmwareUpdateMode     CompletionCode = 0xD1
	ErrBMCInitializing        CompletionCode = 0xD2
	ErrDestinationUnavailable CompletionCode = 0xD3
	ErrInsufficientPrivilege  CompletionCode = 0xD4
	ErrNotSupportedNow        CompletionCode = 0xD5
	ErrSubfunctionDisabled    CompletionCode = 0xD6
	ErrUnspecified            CompletionCode = 0xFF
)

var completionNames = map[CompletionCode]string{
	0x00:                      "command completed normally",
	ErrNodeBusy:               "node busy",
	ErrInvalidCommand:         "invalid command",
	ErrInvalidCommandForLUN:   "command invalid for given LUN",
	ErrBMCTimeout:             "timeout while processing command",
	ErrOutOfSpace:             "out of space",
	ErrReservationCanceled:    "reservation canceled or invalid reservation ID",
	ErrRequestTruncated:       "request data truncated",
	ErrRequestLengthInvalid:   "request data length invalid",
	ErrRequestFieldTooLong:    "request data field length limit exceeded",
	ErrParameterOutOfRange:    "parameter out of range",
	ErrCannotReturnBytes:      "cannot return number of requested data bytes",
	ErrNotPresent:             "requested sensor, data, or record not present",
	ErrInvalidDataField:       "invalid data field in request",
	ErrIllegalForRecord:       "command illegal for specified sensor or record type",
	ErrResponseUnavailable:    "command response could not be provided",
	ErrDuplicateRequest:       "cannot execute duplicated request",
	ErrSDRUpdateMode:          "SDR repository in update mode",
	ErrFirmwareUpdateMode:     "device in firmware update mode",
	ErrBMCInitializing:        "BMC initialization in progress",
	ErrDestinationUnavailable: "destination unavailable",
	ErrInsufficientPrivilege:  "insufficient privilege level",
	ErrNotSupportedNow:        "command not supported in present state",
	ErrSubfunctionDisabled:    "command sub-function disabled or unavailable",
	ErrUnspecified:            "unspecified error",
}

// String names the code, e.g. "invalid command (0xc1)".
func (c CompletionCode) String() string {
	if n, ok := completionNames[c]; ok {
		return fmt.Sprintf("%s (%#02x)", n, byte(c))
	}
	if c >= 0x80 && c <= 0xBE {
		return fmt.Sprintf("command-specific completion code %#02x", byte(c))
	}
	return fmt.Sprintf("completion code %#02x", byte(c))
}

// Error makes a CompletionCode usable as a sentinel error value.
func (c CompletionCode) Error() string { return "ipmi: " + c.String() }

// retryable reports whether a command that failed with c may succeed when
// sent again unchanged.
func (c CompletionCode) retryable() bool {
	switch c {
	case ErrNodeBusy, ErrBMCTimeout, ErrResponseUnavailable, ErrBMCInitializing:
		return true
	}
	return false
}

// CompletionError is a response whose completion code is not 0x00.
// errors.Is(err, ErrInvalidCommand) and friends match on Code.
type CompletionError struct {
	Code  CompletionCode
	NetFn NetFn
	Cmd   byte
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("ipmi: netfn %#02x cmd %#02x: %s", byte(e.NetFn), e.Cmd, e.Code.String())
}

// Unwrap returns the CompletionCode so errors.Is matches the constants.
func (e *CompletionError) Unwrap() error { return e.Code }

// codeOf returns the completion code carried by err, if any.
func codeOf(err error) (CompletionCode, bool) {
	var ce *CompletionError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

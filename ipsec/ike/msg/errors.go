package msg

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every decode error wraps exactly one of them (test with
// errors.Is) and says where in the message it happened.
var (
	// ErrTruncated: a structure, or a length field, runs past the end of
	// its container (datagram, payload, proposal, transform).
	ErrTruncated = errors.New("ike/msg: truncated")
	// ErrLength: a length field is inconsistent: smaller than the fixed
	// part of its structure, not the exact size the structure requires, or
	// (for the IKE header) different from the datagram's length.
	ErrLength = errors.New("ike/msg: bad length")
	// ErrVersion: the header's major version is not 2. See VersionError.
	ErrVersion = errors.New("ike/msg: unsupported IKE version")
	// ErrCritical: an unknown payload had the critical bit set. See
	// CriticalError.
	ErrCritical = errors.New("ike/msg: unsupported critical payload")
	// ErrMalformed: a field has a value the RFCs forbid (wrong proposal
	// numbering, bad Last Substruc, SK not last, bad SPI size, ...).
	ErrMalformed = errors.New("ike/msg: malformed")
	// ErrLimit: a count exceeds this package's bounds (MaxPayloads,
	// MaxProposals, MaxTransforms, MaxAttributes, MaxSelectors).
	ErrLimit = errors.New("ike/msg: limit exceeded")
	// ErrEncode: a value cannot be encoded (invalid field or too long).
	ErrEncode = errors.New("ike/msg: cannot encode")
	// ErrDecrypt: the SK/SKF payload failed to open (the AEAD's error is
	// wrapped too) or its padding is invalid.
	ErrDecrypt = errors.New("ike/msg: cannot decrypt")
	// ErrNoProposalChosen: no received proposal is acceptable.
	ErrNoProposalChosen = errors.New("ike/msg: no proposal chosen")
)

// Limits on counts. Every count is also bounded by the input: no decoded
// object is smaller than 4 octets on the wire.
const (
	MaxPayloads   = 128 // payloads in one chain (outer or inner)
	MaxProposals  = 64  // proposals in one SA payload
	MaxTransforms = 128 // transforms in one proposal
	MaxAttributes = 16  // attributes in one transform
	MaxSelectors  = 64  // traffic selectors in one TS payload
)

// VersionError reports an IKE header whose major version is not 2. When
// Major > 2 a responder may answer with N(INVALID_MAJOR_VERSION) (RFC 7296
// §2.5); messages with Major < 2 (IKEv1) are to be dropped.
type VersionError struct{ Major, Minor uint8 }

func (e *VersionError) Error() string {
	return "ike/msg: unsupported IKE version " + strconv.Itoa(int(e.Major)) + "." + strconv.Itoa(int(e.Minor))
}

// Is makes errors.Is(err, ErrVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrVersion }

// CriticalError reports an unknown payload type with the critical bit set
// (RFC 7296 §2.5). The whole message must be rejected; a responder answers
// with N(UNSUPPORTED_CRITICAL_PAYLOAD) carrying the type (see Notify).
type CriticalError struct{ Type PayloadType }

func (e *CriticalError) Error() string {
	return "ike/msg: unsupported critical payload " + e.Type.String()
}

// Is makes errors.Is(err, ErrCritical) true.
func (e *CriticalError) Is(target error) bool { return target == ErrCritical }

// Notify returns the N(UNSUPPORTED_CRITICAL_PAYLOAD) to answer with.
func (e *CriticalError) Notify() *Notify {
	return &Notify{NotifyType: UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(e.Type)}}
}

// ErrorNotify maps a decode or negotiation error to the error notify a
// responder should send (RFC 7296 §2.21), or returns nil when the message
// should be dropped silently (not an error of this package, IKEv1 version).
//
//	ErrCritical          -> UNSUPPORTED_CRITICAL_PAYLOAD(type)
//	ErrVersion, major>2  -> INVALID_MAJOR_VERSION
//	ErrNoProposalChosen  -> NO_PROPOSAL_CHOSEN
//	other decode errors  -> INVALID_SYNTAX
//
// Only send the notify when the message could be attributed to an IKE SA or
// is an IKE_SA_INIT request; that is the state machine's decision.
func ErrorNotify(err error) *Notify {
	var ce *CriticalError
	var ve *VersionError
	switch {
	case errors.As(err, &ce):
		return ce.Notify()
	case errors.As(err, &ve):
		if ve.Major > 2 {
			return &Notify{NotifyType: INVALID_MAJOR_VERSION}
		}
		return nil
	case errors.Is(err, ErrNoProposalChosen):
		return &Notify{NotifyType: NO_PROPOSAL_CHOSEN}
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrLength), errors.Is(err, ErrMalformed),
		errors.Is(err, ErrLimit):
		return &Notify{NotifyType: INVALID_SYNTAX}
	}
	return nil
}

// errf wraps a sentinel with context: "ike/msg: truncated: SA proposal 2: ...".
func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// ctx prefixes err with context, keeping it errors.Is-able.
func ctx(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}

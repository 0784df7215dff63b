package raid

import "errors"

// Sentinel errors for what callers branch on; they are wrapped with the
// array, member or spec detail. Raw kernel or tool output never stands in
// for them.
var (
	// ErrInvalidSpec: an array spec Keep cannot build (level, counts,
	// chunk, name, sizes).
	ErrInvalidSpec = errors.New("raid: invalid array spec")
	// ErrDeviceTooSmall: a device cannot hold md's metadata plus data.
	ErrDeviceTooSmall = errors.New("raid: device too small")
	// ErrUnknownTier: no tier preset by that name.
	ErrUnknownTier = errors.New("raid: unknown tier")
	// ErrNoMembers: nothing to assemble.
	ErrNoMembers = errors.New("raid: no members")
	// ErrMixedArrays: members of different arrays were passed to Decide.
	ErrMixedArrays = errors.New("raid: members of more than one array")
	// ErrTooFewMembers: the array cannot start, too few current members
	// for its level. Nothing is written to any member.
	ErrTooFewMembers = errors.New("raid: too few members to start")
	// ErrUnsupportedArray: a level or layout Keep does not assemble.
	ErrUnsupportedArray = errors.New("raid: unsupported array")
)

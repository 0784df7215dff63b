package md

import "errors"

// Sentinel errors returned (wrapped with detail) by the decoders. Callers
// branch on them with errors.Is: a member whose superblock fails with
// ErrBadMagic is blank (or foreign), every other error means "damaged or
// not ours, do not touch".
var (
	// ErrTruncated: fewer bytes than the structure (or its dev_roles
	// table) needs.
	ErrTruncated = errors.New("md: truncated")
	// ErrBadMagic: the magic number is not md's; the area is blank or
	// holds something else.
	ErrBadMagic = errors.New("md: bad magic")
	// ErrUnsupportedVersion: a superblock major version other than 1, or a
	// bitmap version outside 3..4.
	ErrUnsupportedVersion = errors.New("md: unsupported version")
	// ErrBadChecksum: sb_csum does not match the kernel's checksum.
	ErrBadChecksum = errors.New("md: bad checksum")
	// ErrUnsupportedFeature: feature_map has bits the kernel does not know.
	ErrUnsupportedFeature = errors.New("md: unsupported feature")
	// ErrInvalid: a field combination the kernel would refuse (non-zero
	// padding, too many devices, overlapping offsets, ...).
	ErrInvalid = errors.New("md: invalid")
)

// Package vault runs the data vault's storage on the box: it finds the
// data disks, assembles the md array from their superblocks (or, on a
// first boot with blank disks, creates it), checks and mounts its XFS
// filesystem, and then watches it: member failures, spares, rebuilds,
// scrubs, hot-added disks and free space, each an event.
//
// It is the supervisor's "storage" stage. Everything it touches goes
// through a seam so the orchestration is unit-tested on fake trees: the
// kernel's md sysfs (raid.Kernel), member devices (raid.MemberOpener),
// external programs (Runner: mkfs.xfs, xfs_repair), mounts (Mounter). The
// QEMU scenarios prove the real thing.
//
// Invariants:
//
//   - Nothing is ever written to a disk that carries data Keep does not
//     own: only blank disks (no md superblock, no partitions, no holders)
//     are made members or spares, and only on a first boot (create:
//     blank) or by policy (auto_spare).
//   - An array with too few current members is not started and nothing
//     is written to any of its members (raid.Decide refuses).
//   - A filesystem is made only on an array this boot created, or on one
//     whose first MiB is all zero (a create interrupted before mkfs);
//     anything else that is not XFS is refused, never formatted.
//   - The filesystem is mounted read-write only after xfs_repair -n
//     found it clean.
package vault

import (
	"context"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/events"
	"keep/raid"
	"keep/raid/disk"
)

// Config is the storage section of the appliance configuration.
type Config struct {
	// Tier names the array shape (raid.TierByName).
	Tier string
	// Name is the md array name written to the superblocks.
	Name string
	// Create is "blank" (create the array on a first boot from blank
	// data disks) or "never" (wait for an operator).
	Create string
	// Array is the md device name to start it as (md127).
	Array string
	// MountPoint and MountOptions for the XFS filesystem.
	MountPoint   string
	MountOptions string
	// Policy assigns disk roles.
	Policy disk.Policy
	// AutoSpare makes blank data disks spares of the running array.
	AutoSpare bool
	// ScrubEvery is the interval between scrubs (0: never).
	ScrubEvery time.Duration
	// FreeWarn are the used-space percentages that raise events.
	FreeWarn []int
	// HealthEvery is how often SMART is read; 0 means 1 h. (Linux 6.1
	// does not enable NVMe SMART asynchronous events, nvme_enable_aen's
	// NVME_AEN_SUPPORTED, so health is polled on every bus.)
	HealthEvery time.Duration
}

// Result is what an external program did.
type Result struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Runner runs an external program to completion (mkfs.xfs, xfs_repair).
// An error means it could not run; a non-zero exit is a Result.
type Runner interface {
	Run(ctx context.Context, argv ...string) (Result, error)
}

// Mounter mounts and unmounts filesystems and reports their space.
type Mounter interface {
	Mount(source, target, fstype, options string) error
	Unmount(target string) error
	// Space returns total and free bytes of the filesystem at target.
	Space(target string) (total, free uint64, err error)
}

// Kernel is the md interface the vault drives: raid.Kernel plus status
// reads and member and sync control (raid.Sysfs implements it).
type Kernel interface {
	raid.Kernel
	ReadStatus(array string) (raid.ArrayStatus, error)
	SetMemberState(array, device, state string) error
	SetSyncAction(array, action string) error
	// SetSyncMin sets where the next sync starts (sectors; 0 = start).
	SetSyncMin(array string, sectors uint64) error
}

// Emit records an event.
type Emit func(sev events.Severity, kind, msg string, fields map[string]string)

// Options are the vault's seams and roots.
type Options struct {
	Config Config
	// SysRoot and DevRoot are /sys and /dev.
	SysRoot, DevRoot string
	Kernel           Kernel
	Opener           raid.MemberOpener
	Runner           Runner
	Mounter          Mounter
	// Health reads SMART; nil disables health checks.
	Health HealthReader
	Log    hclog.Logger
	Emit   Emit
	Now    func() time.Time
	// Rand supplies UUIDs (crypto/rand.Reader).
	Rand io.Reader
}

// Package raid is Keep's data vault storage: Linux md RAID 5/6/10 arrays
// with hot spares, created and assembled from Go with no mdadm on the box.
// This part holds the pure decisions and the kernel seam; package raid/md
// holds the on-disk formats.
//
// What it owns:
//
//   - Tiers: the presets (small RAID5 4+1, compact RAID6 5+1, standard
//     RAID6 6+1, performance RAID10 near-2 8+0) as data (tier.go).
//   - Planning (NewPlan): from device sizes, level, chunk and spares, the
//     superblock set of a new array laid out as mdadm 4.2 lays out
//     --metadata=1.2 (geometry.go): data_offset = 24 sectors of metadata +
//     bitmap space + reshape headroom (128 MiB, shrunk to ~0.1% of small
//     devices but kept ≥ 4 chunks), rounded up to 1 MiB — 4096 sectors on
//     64 MiB disks, 264192 on 4 TB ones; component size = smallest device
//     minus data_offset, chunk aligned; internal bitmap 8 sectors after
//     the superblock with a chunk of at least 64 MiB; bad-block log after
//     the bitmap space; max_dev rounded to a whole sector of roles (128).
//     UUIDs come from an injected io.Reader, times from the caller.
//   - Writing a plan (WriteMembers) in crash-safe order.
//   - Assembly decisions (Group, Decide): pure functions over decoded
//     superblocks.
//   - The kernel seam: Kernel (md sysfs: new_array, metadata_version,
//     new_dev, array_state) with Sysfs over a root path, MemberOpener with
//     Files over the filesystem (exclusive read-write for writing blank
//     disks; shared read-only, page cache dropped, for reading members of
//     a running array, whose superblocks md writes past the cache).
//   - Starting a decided array (Start: new_array, metadata 1.2, new_dev
//     per member then spares, array_state active; "clear" on failure).
//   - Spares for a running array (NewSpare, WriteSpare): a current
//     member's superblock with a free dev_number and role spare.
//   - Running state (Sysfs.ReadStatus: array_state, degraded, sync
//     action and progress, mismatches, dev-*/state and slot), and Changes,
//     which turns two reads into events (member faulty, spare activated,
//     degraded, failed, rebuild/resync/scrub started, progress by tenths,
//     finished, mismatches found).
//   - Watcher: poll() on the attributes md notifies (array_state,
//     degraded, sync_action, sync_completed, dev-*/state, /proc/mdstat),
//     a slow backstop read, and faster reads while a sync runs.
//
// Package raid/vault runs all of this on the box (the supervisor's
// storage stage); raid/disk finds the disks, raid/smart reads their
// health.
//
// Invariants:
//
//   - Write ordering: all bitmaps, synced, then all superblocks, synced.
//     The superblock is the commit point; a device without one is blank.
//     The kernel never writes v1.x superblocks itself (notes/qemu.md §3),
//     so members carry ours before the kernel sees them.
//   - Assembly: the freshest active member defines the array. Members more
//     than one event behind it are stale and excluded (one behind is
//     current, as in the kernel and mdadm); so are members marked faulty
//     (by themselves or by the freshest), members whose geometry differs,
//     a second copy of a device UUID, a second claim on a slot (the
//     fresher wins), and devices smaller than their superblock says.
//     Spares need no current event count. A member mid-rebuild
//     (recovery_offset) is started but does not count as redundancy.
//     RAID5 runs with one slot missing, RAID6 two, RAID10 as long as every
//     mirror set keeps one member (the kernel's _enough walk), RAID1 one.
//     Otherwise Decide refuses with ErrTooFewMembers and the decision says
//     which slots are missing and why members were excluded; nothing is
//     written to any member.
//   - Not yet: re-adding a member behind the array by the bitmap
//     (events ≥ bitmap events_cleared) instead of a full rebuild.
//   - No package-level mutable state; sysfs root and device paths are
//     fields.
//
// Testing: table tests for the mdadm geometry rules (goldens from mdadm's
// own arithmetic), planning per tier and with mixed sizes, every assembly
// case (missing, stale, faulty, duplicate, recovering, refusal per level),
// WriteMembers against a faulty in-memory device that logs write and sync
// order, the sysfs writer against a fake tree. The oracle test plans every
// tier onto sparse files and has `mdadm --examine` and `--examine-bitmap`
// check each member (it fails without mdadm: run make deps). Starting
// arrays for real, and assembling arrays mdadm created, needs the md
// driver and is proven by the QEMU scenarios.
package raid

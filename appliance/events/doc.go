// Package events is the appliance's event journal: one ordered record of
// what happened on the box (a service failed, an array degraded, the
// tunnel went down), published by every subsystem, read by the management
// API and `keep ctl events`, turned into alerts by the monitoring hub.
//
// # Life of the journal
//
// The journal exists from the first instruction of PID 1 and lives in
// memory, because there is no storage yet at boot. Once the data
// filesystem is mounted, AttachFile persists it; Close flushes it at
// shutdown.
//
//	phase        | Emit                      | Query        | History
//	-------------+---------------------------+--------------+------------------
//	memory only  | ring (oldest dropped)     | this boot    | ErrNoStorage
//	attached     | ring + appended to file   | this boot    | all boots on disk
//	closed       | ring only                 | this boot    | all boots on disk
//
// # Invariants
//
//   - Seq numbers the events of one boot 1, 2, 3, … without gaps; Boot
//     names the boot, so (Boot, Seq) is unique in the history.
//   - Emit never blocks on a subscriber or on the disk: subscribers have
//     buffers and lose what does not fit; one writer goroutine, owned by
//     the journal and stopped by Close, writes the file. Every loss is
//     counted in Stats (Dropped, SubscriberDropped, PersistDropped).
//   - Attaching storage writes everything still in memory, in order, before
//     anything newer.
//   - Durability: every event reaches the file promptly; a batch holding a
//     Warning or worse is fsync'd before the writer goes on; the rest is
//     fsync'd with the next such batch, on Sync and on Close.
//   - The file is JSON lines, one event per line, never longer than
//     MaxLineBytes. A torn last line (crash mid-write) is cut off and
//     reported at attach; corrupt lines are skipped and counted on read.
//     Neither stops the journal or a reader.
//   - No package-level mutable state; a Journal is safe for concurrent use.
//
// # Testing
//
// Unit tests drive a Journal with a fake clock (appliance/clock) and real
// files in t.TempDir(): ring overflow, filters, subscriber loss, attach
// after boot, reload across boots, torn and corrupt files, rotation. The
// JSON-lines decoder, which reads bytes from disk, is fuzzed
// (FuzzReadEvents).
package events

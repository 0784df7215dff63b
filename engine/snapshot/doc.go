// Package snapshot owns snapshot objects: what a backup made (its root
// tree) and how (time, host and client, paths, tags, parent, job type,
// summary counters). Each snapshot is one small file, snapshots/<id> in the
// repository (repo.WriteFile of the Snapshots area): its JSON encoding,
// sealed with the metadata key as its own seal type, named by the keyed
// fingerprint of the plaintext, so a file renamed to another's name or
// damaged fails to load instead of lying.
//
// Compatibility: Summary.Excluded (items left out by exclude patterns) was
// added after version 1 and is omitted when zero, so every snapshot
// without exclusions encodes exactly as before; a reader older than the
// field rejects only snapshots that use it.
//
// Job types: full, incremental (unchanged files taken from the Parent) and
// synthetic-full (engine/backup's SyntheticFull: the head of a chain
// committed again, on the vault, after checking it is complete; Parent is
// that head).
//
// # Read and write ordering
//
// Following restic's model, a snapshot is the commit point of a backup and
// the last thing written:
//
//  1. A backup stores chunks and trees (repo.Put) in any order, bottom up.
//  2. Save calls repo.Flush and writes the snapshot file only if Flush
//     returned nil: then every blob accepted before it, which includes
//     every blob the snapshot's tree refers to (directly, or by being
//     present already), is in a durable pack listed by a durable index
//     file (engine/repo's invariant 2).
//  3. The snapshot file is written to tmp/, fsynced, renamed into
//     snapshots/ and snapshots/ fsynced: it appears whole or not at all.
//
// So at every instant on disk, a snapshot that exists resolves completely
// (snapshot → trees → chunks), and a crash before step 3 leaves no
// snapshot, only blobs that the next backup reuses (those in durable
// packs) or stores again. Readers list snapshots/ and load each file
// independently: a lost or damaged file costs that snapshot only (List
// reports it as Damaged and returns the rest). Snapshots are never
// rewritten; removing one (prune) removes its file first, before any blob
// it refers to.
//
// Testing: round trips through a repository; the commit point (a failing
// Flush writes nothing); a damaged, foreign or renamed file is reported
// without affecting the others; FuzzDecode feeds arbitrary plaintexts.
package snapshot

// Package restore owns getting data back out of snapshots: Restore writes
// a snapshot, or one path inside it, into a directory, and Verify re-reads
// and authenticates everything a snapshot refers to without writing.
//
// What Restore recreates: directories, regular files (Workers files at
// once, and within a file its chunks read and written at their offsets by
// Workers goroutines, out of order; holes left unwritten
// and the size set with ftruncate, so sparse files come back sparse),
// symlinks, hard links (a Hardlink node links to the restored first name;
// if that is outside the restored sub-path, its content is written and it
// becomes the first name), FIFOs, device nodes (root only), owners (root
// only), modes, xattrs (POSIX ACLs included) and atime/mtime in ns.
// Sockets are reported and skipped; ctime cannot be set.
//
// Invariants:
//
//   - Metadata order per item: content, lchown (it clears set-id bits),
//     chmod, xattrs, times; a directory's metadata after its children, so
//     creating them does not disturb its times and a read-only directory
//     can still be filled.
//   - A file whose data cannot be read (a chunk missing or failing to
//     authenticate: repo.Get checks every chunk's MAC and fingerprint) is
//     removed, never left with wrong or missing bytes; the failure is
//     listed in Result.Failed with its path and the restore continues.
//   - A restored file is created anew (an existing one is removed first),
//     so writing never goes through a hard link into another file.
//
// Testing: engine/backup's tests run backup → restore round trips over
// generated trees with every node type and compare everything (content,
// modes, owners, ns times, xattrs, hard link identity, holes by
// SEEK_HOLE), sub-path restores, damaged chunks, and Verify.
package restore

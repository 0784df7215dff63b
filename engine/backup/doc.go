// Package backup owns the archiver: it walks directories on the local
// machine and stores them in a repository (engine/repo) as a snapshot
// (engine/snapshot) of trees (engine/tree) and chunks. It is the vault-side
// reference implementation; the network agent reuses it.
//
// Run(ctx, repo, paths, opts): each path becomes a node of the snapshot's
// root tree, named by its last element. Directories are walked depth
// first in name order; regular files are read by Options.Workers
// goroutines at once (O_NOATIME, so backups leave atimes alone), cut with
// the repository's chunker (Repo.Cutter: its bounds and secret gear seed),
// fingerprinted (Repo.Sum) and stored when missing (Repo.PutSize: a chunk
// the repository has costs an index lookup, nothing more); each directory's
// tree is stored once its files are done (bottom up).
//
// What is recorded: every node type of engine/tree; owners with names;
// mode bits; ns times; inode, device and link count; symlink targets;
// device numbers; xattrs (POSIX ACLs are xattrs); sparse files' holes,
// found with SEEK_DATA/SEEK_HOLE when a file has fewer blocks than its size
// and never read or stored. Hard links: the first name of a multiply
// linked file (by device and inode) in walk order is a File, read once;
// later names are Hardlink nodes carrying its snapshot path and content.
//
// Incremental (Options.Parent): a file whose size, mtime, ctime and inode
// equal its node at the same path in the parent snapshot, and whose chunks
// the repository still has, is not opened: its content list is reused.
// Unchanged directories then encode to the same tree blobs, which are
// stored once. The job type is recorded as incremental.
//
// Errors: an error of one item (lstat, readlink, xattrs, open, read,
// listing a directory: permission denied, vanished) skips that item and is
// recorded in Result.Skipped with its reason; the backup goes on. An error
// of the repository or the context aborts the backup: no snapshot is
// written.
//
// Commit: the snapshot is saved with snapshot.Save, which flushes the
// repository and writes the snapshot file only if the flush succeeded
// (engine/snapshot's ordering). A crash at any point before leaves no
// snapshot; the chunks already in durable packs are found by the next
// backup and not stored again.
//
// Progress: Options.Progress is called every ProgressInterval and at the
// end with files, directories, bytes seen, read and new, and the rate.
//
// Testing: backup_test.go generates a tree with every node type (as root:
// devices, owners) with ns times, xattrs, an ACL, hard links and a sparse
// file, backs it up, restores it (engine/restore) and compares everything,
// holes by SEEK_HOLE and hard links by inode; incremental runs read
// nothing unchanged (Summary counters of files and bytes read); a second
// identical backup stores nothing new; unreadable files are skipped with
// reasons (through an open seam, as root bypasses permissions); a backup
// process SIGKILLed after its 5th and 30th stored chunk and just before
// its commit leaves no snapshot each time, the repository checks clean,
// and the next backup reuses the durable chunks and restores; Verify finds a damaged chunk and restore removes the
// file instead of writing wrong bytes. Benchmarks measure backup, restore
// and a 2%-changed incremental on a generated corpus.
package backup

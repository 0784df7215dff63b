// Package storetest is the conformance suite of repo.FS, the seam through
// which engine/repo stores a repository: every store backend (the local
// directory, repo.DirFS; the in-memory engine/repo/memfs; later the remote
// vault and object storage) must pass it. It is modelled on restic's
// internal/backend/test suite: one entry point, run from the backend's own
// tests, with subtests named so that a failure says which part of the
// contract the backend breaks.
//
// # Adopting the suite
//
// A backend calls Run from a test of its package, with a constructor that
// returns a new, empty store each time it is called (one per subtest),
// cleaned up with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) repo.FS {
//			return vault.NewFS(testServer(t), t.Name())
//		}, storetest.Options{})
//	}
//
// Run a part with -run, e.g. -run 'TestConformance/FS/Rename' or
// -run 'TestConformance/Repo/'. Options shrink the large-data tests for
// slow backends. The suite uses only the repo.FS methods and, where the
// backend offers them, the capability interfaces below; it sleeps
// nowhere and needs no network of its own.
//
// # What is tested
//
// The top-level subtests are capabilities; each holds one subtest per
// behaviour:
//
//   - FS: the contract documented on repo.FS and repo.File, which every
//     backend must meet: Create is exclusive (fs.ErrExist, also when
//     racing), Open of a missing name is fs.ErrNotExist, Rename replaces
//     atomically (within and across directories), Remove and Mkdir
//     (fs.ErrExist), ReadDir (sorted, fs.ErrNotExist for a missing
//     directory, "." for the root), SyncDir, Lock (exclusive with
//     repo.ErrLocked, per name, released by Close), File (sequential
//     writes, ReadAt and its io.ReaderAt end-of-file rules, Size, Sync on
//     a handle from Open as repo.Open uses it, concurrent ReadAt), a
//     large file, many files in one directory, the names of the
//     repository layout, and concurrent use.
//   - Repo: the real engine/repo over the backend: Init and Open (and
//     their errors), Put/Get round trips of data and tree blobs, pending
//     until Flush, a large blob, reopening after Close, the index rebuilt
//     from the packs when every index file is removed, a missing pack,
//     temporary files cleaned at Open, concurrent Puts, the writer lock,
//     read-only Open beside a writer, and the files of an Area.
//   - PowerLoss: the backend implements PowerLosser, so it can simulate
//     losing power (memfs does). After a power loss, file content made
//     durable by File.Sync and directory entries made durable by SyncDir
//     (creations, renames, removals, directories) must survive, locks
//     must be free, and a repository must keep every blob a Flush
//     reported durable. Skipped for backends without it (a real
//     directory cannot lose power under a test).
//   - ProcessCrash: the backend implements ProcessCrasher, so it can
//     simulate the death of the process using it. Its locks must be
//     released and a repository must reopen with every flushed blob.
//   - Corrupt: the backend implements Corrupter, so a test can damage a
//     stored byte. The damage must show on read, a damaged pack must be
//     reported (repo.ErrCorrupt from Get, a problem in Check) and a
//     damaged index file must be rebuilt from the packs.
//
// A skipped capability is reported as a skipped subtest naming the
// missing interface, never as a pass.
package storetest

// Package repo owns a repository: the durable, deduplicated, encrypted blob
// store under the engine, in one directory of the vault's data filesystem.
// It ties engine/pack (pack files), engine/index (where each blob is),
// engine/seal (sealing) and engine/fingerprint (IDs) together, with keys
// from engine/keys.
//
// A blob is a chunk of data (pack.Data, sealed with the chunk key) or a
// tree or other metadata object (pack.Tree, metadata key), named by the
// keyed fingerprint of its plaintext. The snapshot layer stores trees
// exactly as chunks: Put(ctx, pack.Tree, id, data).
//
// Layout:
//
//	config              "KRC1" | key ID | sealed JSON (version, ID, chunker params, created)
//	lock                flock(2) of the one writer
//	data/<xx>/<pack>    packs (engine/pack), named by the BLAKE3 of their bytes
//	index/<name>        index files (engine/index), named by the BLAKE3 of their bytes
//	snapshots/<id>      sealed snapshot files (engine/snapshot), named by the
//	                    keyed fingerprint of their plaintext (Area, WriteFile)
//	tmp/                files being written
//
// Bundles: data blobs under Options.BundleBelow (256 KiB: whole small
// files, and every chunk of a disk image) are not sealed alone. A Stream
// (stream.go: the Repo's own, or one per agent session) collects them in
// call order in a bundle, which is sealed about BundleSize (1 MiB) at a
// time into whichever pack is free (engine/pack, bundle.go); the index
// points each member at its bundle. A bundle thus holds neighbouring
// chunks of a file, and restoring the file opens each bundle about once.
// An agent may form the bundle itself (agentbundle.go): it sends the
// members' plaintext compressed as one payload, DecodeBundle bounds and
// splits it, and PutEncodedBundle seals the payload as it came, as one
// bundle, when every member is new and none is pending elsewhere (else each
// member goes the ordinary way). A Get of a member opens the whole bundle,
// so the Repo keeps the last 8 it opened (bundle.go), and concurrent Gets of one
// bundle open it once. Trees are never bundled. Measured on the
// benchmark's 1.8 GB file-server tree: 539.6 MB stored against 588.3 MB
// without bundles (8 % less; restic 0.14, zstd at its default level: 580
// MB). The price: one damaged byte fails every member of its bundle (up to
// about 1 MiB of small files) instead of one blob; Check and VerifyRepo
// name each of them and the files that need them, and the vault's RAID and
// replication are what keep the bytes intact.
//
// Seal types of the storage layer (bound into each sealed object's
// authentication, so no object opens as another kind): 1 pack.Data, 2
// pack.Tree, 16 pack.TypeHeader, 17 index.TypeFile, 18 the config, 19
// files of the Snapshots area, 20 pack.TypeDataBundle.
//
// # Write ordering
//
// The invariants, which hold at every instant on disk (restic's "Read and
// Write Ordering" is the model). "Durable" means the file's content was
// fsynced before it was renamed into place and its directory was fsynced
// after; until then a crash may undo it.
//
//  1. Data before index: an index file lists only blobs in durable packs.
//     A pack is written to tmp/, fsynced, closed, renamed into
//     data/<xx>/ (created and fsynced in data/ the first time) and
//     data/<xx>/ is fsynced; only then are its blobs indexed in memory and
//     queued for an index file.
//  2. Index before anything that refers to it: Flush returns nil only when
//     every blob accepted before it is in a durable pack listed in a
//     durable index file. A snapshot (the next layer) must be written only
//     after a successful Flush; so snapshot → trees → chunks always
//     resolve.
//  3. Files appear whole or not at all: every file (pack, index file,
//     config) is written under a temporary name and renamed; names are
//     content hashes, so a file is never rewritten, and a pack or index
//     file that exists is complete unless the storage damaged it.
//  4. Removal after replacement: compaction writes the merged index files
//     durably before it removes the old ones; a crash in between leaves
//     duplicate entries, which loading tolerates. Damaged index files are
//     removed only after the index rebuilt from pack headers is durable.
//  5. Index files list complete packs: a pack's blobs are never split
//     between index files (Flush writes whole packs; compaction merges
//     whole files). So a pack that any readable index file names is fully
//     indexed, and one that none names is re-read from its header: losing
//     any index file loses no blob.
//     Area files (WriteFile: snapshots) are the "anything": WriteFile
//     makes its file durable but does not Flush; its callers do, first.
//  6. The config is written last by Init: no config, no repository, and
//     Init can run again over a half-made one.
//  7. Open makes durable what it finds before anything depends on it (a
//     writer whose process crashed may have left it unsynced): it fsyncs
//     the repository directory (the config), data/ (the shard directories
//     it will write into without creating them) and every pack it indexes
//     from its header, before writing the index file that lists them.
//     Index files found need no fsync: losing one costs the next Open a
//     re-read of its packs' headers, nothing more.
//
// Consequences: a crash at any point loses at most what no Flush had yet
// reported durable, never a flushed blob. What it can leave behind is
// harmless and cleared by the next Open (for writing): temporary files are
// removed, packs that no index file lists are indexed from their headers
// and written to a new index file, and packs whose index entries were lost
// are found the same way. Index files that are missing or fail to
// authenticate are logged and rebuilt from the packs alone; an indexed pack
// that is gone is logged and dropped from the index (so the next backup
// that has its blobs stores them again), and Check reports it.
//
// Concurrency: Put is safe for concurrent use; the fingerprint check and
// sealing (compression, encryption) run in the caller's goroutine, so
// callers scale ingest by calling Put from several goroutines. At most
// Options.Packers packs are open at once; the Put that fills one writes it
// (fsync included) before returning. Concurrent Puts of one blob store it
// once (a pending set covers blobs in open packs and open bundles). Flush
// first seals every Stream's open bundle and waits for bundles being
// sealed, then excludes Puts only while it writes the open packs. The
// Repo starts no goroutines, except a Stream made with NewStream(async):
// up to async goroutines sealing its full bundles, which Flush waits for.
//
// One writer: Open takes a flock(2) on "lock" (released by the kernel when
// the process dies, so a crash leaves no stale lock); a second writer gets
// ErrLocked. Options.ReadOnly opens without the lock and writes nothing.
//
// Memory: the index costs 46–47 bytes per blob (engine/index); pending
// blobs cost a map entry each until their pack is written, and written
// packs not yet in an index file keep their listing (48 bytes per blob)
// until the next index write, which Put triggers by itself every 65536
// blobs. Packs are streamed to their temporary file, not buffered; each
// Stream holds one open bundle's plaintext (up to BundleSize plus a blob)
// and each bundle being sealed another,
// and reads keep up to 8 opened bundles (about 10 MiB).
//
// Verify: Check reads every pack once, front to back, one blob (or bundle)
// in memory at a time: the pack must hash to its name, its header must
// authenticate and tile it, each blob must authenticate, decompress to its
// listed size and hash to its ID (a bundle's table must list exactly the
// members the header does), and the index and the headers must agree. Damage is
// reported in the Report (capped list, full count), never a panic or an
// abort.
//
// Testing: engine/repo/storetest is the conformance suite every backend
// (FS) passes, run here for DirFS and engine/repo/memfs: the FS contract,
// the repository over it, and where the backend can model them power loss,
// process crashes and corruption. repo_test.go covers the API (round trips of both types,
// dedup, the ID check, limits, concurrent Puts of overlapping blobs, the
// lock, read-only mode, Init over a half-made repository, wrong key, a
// failed pack write reported by the next Flush, cancellation);
// load_test.go deletes, damages and truncates index files and packs and
// checks the rebuild, the logs and Check's report, and that compaction
// keeps packs whole so losing any one index file loses nothing;
// crash_test.go runs a workload over an in-memory filesystem that fails at
// the Nth mutating operation (every N of the workload in turn), then either
// loses power (each file keeps its synced content plus a random prefix of
// what followed, each directory its synced entries plus a random prefix of
// later operations) or lets the process die and reopens before losing power,
// and checks that every blob whose Flush succeeded reads back intact, Check
// finds no damage, and the repository takes new writes (bundles included:
// the workload's blobs are small). Removing any one fsync of the write path
// makes it fail, except Open's fsync of data/, which needs a crash inside
// the creation of a shard directory that the next process then writes into
// (1 in 256 per pack). bundle_test.go: bundled blobs read back (also
// concurrently, and after the index is rebuilt from the headers), store
// smaller than alone, and a damaged bundle fails exactly its members in
// Get and Check. Fuzz tests cover the config decoder (file and JSON);
// the pack and index decoders are fuzzed in their packages. Benchmarks
// (BenchmarkPut, BenchmarkGet, BenchmarkHas; 64 MiB of /usr/share cut into 1
// MiB or 64 KiB chunks, into a fresh repository on ext4, fsyncs included, on
// the 2-core build machine, noisy): Put about 240–260 MB/s from one caller
// and 235–450 MB/s from two, at a stored ratio of 1.92; Get 710–870 MB/s.
// Incompressible data is bound by the disk (250–350 MB/s here).
package repo

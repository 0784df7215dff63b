// Package remote owns the agent side of the vault connection: Enrol
// redeems an enrolment token for Credentials (Save and LoadCredentials
// keep them in a 0700 directory, files 0600, written durably), Dial opens a mutual TLS 1.3
// connection (Client) speaking engine/agentproto, Store is a backup
// target implementing engine/backup's Store, so backup.Run does a
// source-side-dedup backup over the network unchanged, and Reader is a
// tree.Getter over the vault, so engine/restore works unchanged.
//
// Client: one stream, many requests in flight. A caller's request is
// numbered and written under a write lock; one reader goroutine routes
// each reply to its caller by request ID. Every goroutine is owned:
// the reader ends with the connection (Close), batch goroutines end with
// their batch.
//
// Store pipeline (why PutSize never waits for a round trip): PutSize
// answers from a local set of IDs known to be on the vault (0, nothing
// sent), else copies the blob into a queue and returns at once. Queued
// blobs go out in batches: a HaveQuery of BatchIDs IDs (256), or
// whatever is queued BatchDelay (2 ms) after the first; each batch is a
// goroutine that asks, then sends PutBlob only for the blobs the vault
// lacks, then collects the PutOKs; any number of batches are in flight at
// once, but each sends its blobs only after the batch before it has sent
// its own, so blobs reach the vault in the order the backup put them
// (the vault bundles small chunks in that order; interleaved batches made
// a restore open each bundle 1.5–2.4 times, TestImageBundleLocality). Memory is bounded by MaxBuffered: a blob's bytes are held from
// PutSize until they are written to the connection (or found present),
// and PutSize waits when the budget is spent — the backpressure. The
// first error of any batch is sticky: the next PutSize, Flush or commit
// returns it. Flush and the commit (WriteFile) first drain the pipeline.
// PutSize's return value is an estimate (the blob's length when it is not
// known present); the vault replaces the snapshot's stored-data counters
// with its own count at commit.
//
// Compression on the wire: after a batch's HaveReply, the blobs the vault
// lacks are compressed (seal.Coder, the codec choice the vault would
// make; up to GOMAXPROCS at once across batches) before they are sent,
// each in an encoding slot: compressed into the slot's scratch and the
// payload copied back over the blob's plaintext, so a blob waiting to be
// sent holds one buffer, not two. A blob that does not compress goes as
// it is, and the agent says at Hello that it compresses
// (HelloCompresses), so the vault stores it so instead of trying again.
// Data blobs below HelloOK's BundleBelow (small files, every chunk of a
// disk image) the vault keeps in bundles compressed whole, so the agent
// forms those bundles itself: in the order batches send (so a bundle
// holds neighbouring chunks), filled to HelloOK's BundleSize (the members
// stay in their own buffers until a slot assembles and compresses the
// bundle) and sent as one PutBundle; Flush and the commit send the last, partly
// filled one. The vault decodes each blob or bundle to check it and
// stores the payload as it came; a restore receives payloads as stored and decodes
// them (Client.decode: bounded by the type's limit, then checked against
// the ID). A bundled blob comes as the name of its bundle (when every
// member is the client's to read): the Client gets the bundle whole
// (GetBundle), decodes it once, keeps the last few (bundles.go) and
// checks each member it takes against its ID. So file data crosses the network compressed both ways (on the
// benchmark's corpora 2.6× fewer bytes for a file-server backup, 2.3× for
// a disk image's), and compression runs on the protected server, not on
// the vault that serves many.
// Options.NoCompression sends plaintext.
//
// Has for incrementals: backup.Run calls Has(data, id) synchronously, in
// its walk, for every chunk of every unchanged file, and it reads the
// parent's trees through Get before. So NewStore with a Parent asks the
// vault to verify the parent snapshot (OpenSnapshot with verify: every
// blob present, a walk the vault caches per tree); if it is intact, the
// parent's root tree is marked intact, and every tree the backup then
// reads through Get that is marked intact marks its subtrees intact and
// its chunks known. The chunks of unchanged files are thus answered
// locally, with no round trip, exactly when backup.Run needs them (it
// loads a directory's parent tree before it asks about its files). A
// chunk not known (a parent that is not intact) costs one HaveQuery round
// trip. A blob removed between that check and the commit is caught by
// the commit's completeness check: the backup fails, never a snapshot
// with a hole.
//
// Invariants: every blob received (Get) and every snapshot listed is
// checked against its ID (the keyed fingerprint) before use; the vault is
// pinned by its CA (Credentials.TLSConfig, ServerName enrol.ServerName),
// at enrolment by the token's CA fingerprint; the agent key is generated
// locally and never sent.
//
// Testing (e2e_test.go, in process, real TLS on 127.0.0.1, repository in
// t.TempDir()): enrolment with a token, its reuse and expiry refused, a
// token pinning another CA refused before the secret is sent; backup of a
// generated tree with backup.Run through Store, restore through Reader
// with restore.Restore and comparison of bytes, modes, owners, mtimes and
// links; a second identical backup sends zero PutBlob frames (counted by
// the server); an incremental after a 100-byte change sends exactly the
// changed chunks plus the four trees on its path, reads one file and
// needs no Has round trip; another client can neither list, open nor read
// the snapshots; revoked, foreign-CA and expired certificates refused at
// Hello with their reasons; a blob whose content does not match its ID
// refused (also for a present ID) and nothing stored; a commit whose tree
// references a missing chunk or tree refused and no snapshot written; a
// connection cut after 1 MiB leaves no snapshot, a failed job record and
// a clean repository, and the next backup completes; under 2 ms of
// latency per read more than one request is in flight at the vault
// (asserted as a count, not a time); graceful stop fails the running job
// and keeps flushed blobs. BenchmarkRemoteBackup reports MB/s for new
// data, deduplicated data, and the same backup without the network.
// creds_test.go saves and loads credentials, refuses a key that is not
// the certificate's, and FuzzParseCredentials fuzzes the loader.
package remote

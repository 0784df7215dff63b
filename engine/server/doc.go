// Package server owns the vault side of agent connections: it serves
// engine/agentproto over TLS 1.3 to keep-agents, storing what they send
// in the vault's repository (engine/repo) and recording their jobs
// (engine/jobs).
//
// Connections: each starts with a TLS 1.3 handshake (CA.ServerTLSConfig:
// client certificates requested, checked by the session so a refusal is
// a protocol Error with a reason, not a bare alert). The first request
// must come within HandshakeTimeout and be either Enrol (an agent
// redeeming a token; answered, then the connection is closed) or Hello:
// the client certificate must pass CA.VerifyClient (this CA, not expired,
// not revoked) and the client name comes from it, never from the Hello
// (a different claim is refused). HelloOK hands out the chunker bounds,
// the gear seed and the fingerprint key — what an agent needs to chunk
// and fingerprint at the source — and never the chunk or metadata keys.
//
// Requests are pipelined: the reader takes each request's bytes from a
// per-connection budget (MaxInFlight) and a handler slot (MaxHandlers)
// before allocating its payload, then handles it in its own goroutine;
// replies go out as handlers finish, under one write lock. A small data
// blob (one the repository bundles) is put by the reader itself, in
// wire order, through the session's repo.Stream, and only its reply waits
// for a handler: so a bundle holds the chunks the agent sent together
// (engine/repo, stream.go). Its cost in the reader is the fingerprint
// check and a copy; full bundles are sealed by the Stream's goroutines
// (GOMAXPROCS of them). When the
// budget is spent the reader stops reading, and TCP pushes back on the
// agent. A reply carrying stored data (GetBlob, GetBlobs, GetBundle) is
// not in that budget: MaxReplies of them at most are built or waiting for
// the writer at once, each at most blobsReplyLimit plus one blob. Memory
// per connection is thus bounded by MaxInFlight plus MaxReplies such
// replies, however many small requests an agent pipelines without reading
// the answers. A request longer than MaxInFlight allows cannot exist
// (MaxInFlight is at least MaxPayload plus a request's overhead), and a
// shutdown closes the budget, so the reader never waits for it for good.
//
// Invariants:
//
//   - Poisoning: PutBlob recomputes the keyed fingerprint of every blob
//     (Repo.Sum) and refuses a mismatch (CodeIDMismatch) before anything
//     is stored — also for IDs the repository has, where Repo.PutSize
//     itself would not look. One client cannot make another's IDs resolve
//     to its bytes. An encoded blob (compressed by the agent) is decoded
//     first, within the type's limit and to exactly its declared size
//     (else CodeBadRequest or CodeTooLarge), and the plaintext is what is
//     hashed; the payload is then sealed as it came (Repo.PutEncodedSize),
//     so the vault decompresses once instead of compressing. Decoding is
//     deterministic, so the stored payload opens to the hashed plaintext.
//     A PutBundle (small blobs the agent bundled) is decoded and parsed
//     (Repo.DecodeBundle: a valid table, every member one the repository
//     would bundle), every member hashed against its ID, and only then
//     stored whole (Repo.PutEncodedBundle); one bad member refuses it all.
//     Decoding takes one of GOMAXPROCS slots shared by all sessions: a
//     plaintext is up to 3.5 times the payload MaxInFlight counted.
//   - Data blobs are served as stored (Repo.GetEncoded): the agent
//     decodes and checks them; the vault neither decompresses nor hashes
//     them. Trees it decodes itself (their children become readable).
//     A member of a bundle is answered in a Blobs reply by the bundle's
//     name, and the bundle sent whole as stored (GetBundle,
//     Repo.GetEncodedBundle), only if every member the bundle's pack
//     header lists (Repo.BundleMembers) is readable by the session: a
//     bundle may hold other snapshots' blobs, another client's when the
//     vault formed it. Otherwise the member is sent alone, as plaintext
//     from the opened bundle. A name the vault did not give (no bundle of
//     that length at that offset) is refused like an unreadable one.
//   - Commit: the snapshot is decoded strictly, its Client forced to the
//     authenticated name, its stored-data counters replaced by the
//     vault's own count for the session, its parent (if any) must be this
//     client's own (not another's that a grant lets it read); the repository is flushed, then the whole tree is walked
//     and every tree, part, extent blob and chunk must be present
//     (CodeIncomplete otherwise); only then snapshot.Save writes it. Trees
//     proven complete are cached in the Server (content-addressed, so the
//     proof holds for any client), bounded, and ForgetComplete must be
//     called by anything that removes blobs.
//   - Read policy: a session reads only blobs reachable from snapshots of
//     its own client that it opened (OpenSnapshot), learned tree by tree
//     as it reads them (MaxReadable per session); another client's
//     snapshot is "not found", its blobs "forbidden", unless an operator
//     granted this client reads of that client's snapshots (MayRead: a
//     restore to another client). HaveQuery answers for
//     the whole vault: that is what cross-client dedup is, and it tells an
//     agent (which has the fingerprint key) whether given content is in
//     the vault — the accepted cost of source-side dedup across clients.
//   - Jobs: BeginJob creates the job record; Progress updates it (the
//     vault's counts of what was sent and stored, the agent's of what it
//     saw); Commit finalises it as succeeded (partial with skipped
//     items), EndJob as done or failed; a session that ends otherwise
//     (disconnect, error, shutdown) finalises its running job as failed
//     with the reason. One job at a time per connection.
//   - Graceful stop: cancelling Serve's context stops accepting and
//     reading, lets every request already read finish and be answered,
//     fails running jobs ("vault shutting down") and closes connections
//     before Serve returns. No goroutine outlives Serve.
//
// Testing: server_test.go speaks raw frames over TLS: Hello without a
// certificate, a first request other than Hello, a wrong version, requests
// out of order (commit or EndJob without a job, a second Hello, a second
// running job, unknown kinds and blob types), and a malformed frame, which
// ends the session and fails its job; and the error-code mapping. The
// end-to-end tests live in engine/remote (real TLS on
// 127.0.0.1, a repository in a temp dir): enrolment, backup and restore,
// dedup across backups, incremental transfer, refusal of revoked, foreign
// and expired certificates, blobs that do not match their ID, commits of
// incomplete trees, a connection cut mid-backup, pipelining under
// latency, graceful stop, and the read policy between two clients.
package server

// Package agentproto owns the wire protocol between keep-agent (on a
// customer's server) and the vault (engine/server), spoken over one TLS
// 1.3 stream per agent: mutual TLS once enrolled (engine/enrol), server
// authentication only for the one Enrol request of an agent enrolling.
//
// Frame layout (integers big-endian):
//
//	offset 0  type     u8   message type (table below)
//	offset 1  request  u32  request ID, chosen by the agent; the reply
//	                        carries the ID of its request
//	offset 5  length   u32  payload bytes, at most MaxPayload (16 MiB + 1 KiB)
//	offset 9  payload       the message
//
// Many requests are in flight at once on one stream: the agent numbers
// them, the vault answers each exactly once (its reply type, or Error) in
// whatever order its handlers finish. Payload fields: fixed-size
// integers, IDs as 32 raw bytes, strings as u16 length + bytes (at most
// MaxString), long byte strings as u32 length + bytes, counts as u32;
// PutBlob, Blob and Commit end with their data, unprefixed.
//
//	request        fields                                  reply
//	Hello          version, agent version, client claimed, HelloOK: version, vault ID, client,
//	               flags (a byte, only when not zero:
//	               HelloCompresses)                          chunker min/avg/max, gear seed,
//	                                                         fingerprint key, max payload,
//	                                                         max in-flight bytes, max IDs/query,
//	                                                         bundle-below size, bundle size
//	HaveQuery      blob type, IDs (≤ MaxHaveIDs)           HaveReply: count, bitmap (LSB first)
//	PutBlob        blob type, ID, codec, size, payload     PutOK: sealed bytes stored (0: had it)
//	PutBundle      codec, size, payload (a bundle)         PutOK: sealed bytes stored
//	GetBlob        blob type, ID                           Blob: codec, payload
//	GetBlobs       blob type, IDs (≤ MaxGetIDs)            Blobs: (code, message, codec, bundle, payload)…,
//	                                                         bundle refs…
//	GetBundle      bundle ref                              Blob: codec, payload (a bundle)
//	Flush          –                                       FlushOK
//	Commit         snapshot JSON                           Committed: snapshot ID
//	ListSnapshots  –                                       Snapshots: (ID, JSON)…
//	OpenSnapshot   ID, verify                              SnapshotInfo: intact, JSON
//	BeginJob       kind, hostname, parent, paths           JobStarted: job ID
//	Progress       files, dirs, bytes seen/read/new, ns    Ack
//	Skipped        (path, reason)…                         Ack
//	EndJob         failed, reason                          Ack
//	Enrol          token secret, public key (PKIX DER)     Enrolled: certificate, CA (DER)
//	any            –                                       Error: code, message
//
// Blobs cross the wire encoded (version 3): a payload and its codec, one
// of engine/seal's (0 none, 1 zstd, 2 zstd+x86), so file data travels
// compressed both ways. The agent compresses what it sends (the small
// data blobs the vault bundles, below HelloOK's BundleBelow, in bundles it
// forms itself: PutBundle), the vault decodes each payload to check its
// fingerprints and seals the payload as it came; on a restore the vault sends payloads as stored and the agent
// decodes and checks them. A Blobs reply names the stored bundle of a
// member (version 4) when every member of it is readable by the client;
// the agent asks for the bundle (GetBundle) once, keeps the last few it
// decoded, and takes the members from their tables, so a restore of small
// files (or a disk image's small chunks) also crosses the network
// compressed, and the vault does not decompress it. This package carries codecs as bytes; the
// ends decode with seal.Coder, bounded by the blob type's limit.
//
// Invariants:
//
//   - Decoding is strict and bounded: ParseHeader checks the type and the
//     length against the limit before a payload byte is read or a buffer
//     allocated; Decode checks every count against both its bound and the
//     bytes left before it allocates, rejects non-canonical booleans and
//     bitmap padding, and rejects trailing bytes. So Decode(Encode(m)) is
//     m, and an accepted payload re-encodes to exactly its bytes.
//   - A decoding error is ErrFrame: the stream is out of sync and is
//     closed; an Error message is a failed request and the stream goes on.
//   - Decoded byte fields alias the payload buffer.
//   - Encoders truncate strings to MaxString bytes (on a UTF-8 boundary).
//   - Secrets never print: HelloOK (fingerprint key, gear seed) and Enrol
//     (token secret) format without them.
//
// Testing: round trips of every message with edge values, every
// truncation of every encoding rejected, trailing bytes and each bound
// rejected, header checks; one Fuzz test per message decoder plus
// FuzzDecodeFrame, each checking that whatever decodes re-encodes to the
// same bytes.
package agentproto

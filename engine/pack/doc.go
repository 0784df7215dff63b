// Package pack owns the pack file format: an append-only file of sealed
// blobs followed by a sealed header that lists them, so that the index can
// always be rebuilt from the packs alone.
//
// Layout (version 1):
//
//	blob 0 | blob 1 | … | blob n-1 | sealed header | header length (u32 LE) | "KPK1"
//
// Each blob is a seal blob (engine/seal: codec, nonce, AES-256-GCM) sealed
// by the caller as its type and ID. The header's plaintext is
//
//	version (u8 = 1) | count (u32 LE) | count × entry
//	entry: type (u8) | ID (32) | offset (u32 LE) | length (u32 LE) | raw length (u32 LE)
//
// where offset and length locate the sealed blob in the file and raw length
// is its plaintext size. Small Data blobs may instead be members of a
// bundle (bundle.go): one sealed object holding several blobs and a table
// of them; each member has an entry of its own whose offset and length are
// the bundle's, with the Bundled bit (1<<31) set in the length, and a
// bundle's members are consecutive entries. The header is sealed (compressed when that pays,
// encrypted, authenticated) as TypeHeader with the zero ID under the
// metadata key; the trailer (its sealed length and the magic) is in the
// clear so a reader finds it from the end of the file.
//
// A pack is named by its ID: the unkeyed BLAKE3-256 hash of all its bytes.
// The bytes are ciphertext, so the name reveals nothing, and anyone can
// check a pack's integrity against its name without the key.
//
// Blob types are the seal types: Data (seal.TypeChunk, chunks of file and
// stream data, sealed with the chunk key) and Tree (seal.TypeMeta, tree and
// other metadata blobs, sealed with the metadata key). The header binds
// type and ID to each blob only as a listing; the seal of each blob binds
// them cryptographically, so a listing that lies makes the blob fail to
// open.
//
// Invariants:
//
//   - Entries tile the blob region exactly: the first at offset 0, each
//     next one where the previous ended (or, a member of the same bundle,
//     where the previous started), the last ending where the sealed header
//     starts. ReadHeader rejects anything else, and bundles of anything but
//     Data blobs, of more than MaxBundleMembers or larger than
//     MaxBundleSize.
//   - A bundle's table lists its members in order and they tile its member
//     region exactly (ParseBundle checks it); the reader finds a member by
//     ID in the table, so the table, authenticated with the members, is
//     what binds each member's bytes to its ID (the reader also checks the
//     fingerprint).
//   - A pack holds 1 to MaxBlobs blobs and its blob region is below 4 GiB
//     (offsets are 32-bit); Writer refuses to exceed either (ErrFull).
//   - Decoding bounds every length before allocating: the sealed header is
//     at most MaxHeaderSize bytes, its plaintext likewise, and the count
//     must match the plaintext's size exactly. Damage, truncation and a
//     wrong key are ErrCorrupt, never a panic.
//   - Writer writes strictly sequentially (append-only) and never seeks; a
//     failed write makes it fail every later call (the caller discards the
//     file). Durability (fsync, rename, directory fsync) is the caller's:
//     see engine/repo.
//
// Testing: round trips with table-driven blob sets; every truncation and
// bit flips in trailer and header fail with ErrCorrupt; hand-built
// plaintexts that break each rule of the listing are rejected; FuzzReadHeader
// feeds arbitrary files and FuzzDecodeHeader arbitrary header plaintexts.
// Bundles: round trip through a pack between plain blobs, the header rules,
// every truncation and bit flip of a table, and FuzzParseBundle.
package pack

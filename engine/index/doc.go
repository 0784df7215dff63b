// Package index owns the map from blob (type, fingerprint) to its place in
// a pack, in memory and in index files.
//
// Memory: the index is a sorted array of fixed-size entries, not a map of
// structs: 32 bytes of ID, a 32-bit word holding the pack's number (a small
// integer into a table of pack IDs) and the blob type, and 32-bit offset and
// length: 44 bytes per blob, no pointers, nothing for the garbage collector
// to scan. The pack table adds 32 bytes per pack (one per 16 to 40 blobs at
// 1 MiB chunks in 16 MiB packs), and the array keeps at most 1/32 spare
// capacity. Lookups are two binary searches: the large sorted array and a
// small sorted tail that takes new packs and is merged into the array in
// place when it grows past about 4·√n entries, which keeps both the
// per-pack insert and the amortized merge cost small. The plaintext size
// of a blob is not kept in memory: pack headers have it.
//
// Measured (BenchmarkMemory, BenchmarkLookup, BenchmarkAdd): 46.0 bytes
// per blob for an index loaded at open and 47.3 for one grown pack by pack
// (Go heap growth agrees with the count), that is 0.044–0.045 GB per TB of
// unique data at 1 MiB average chunks (DESIGN §7 asks ≤ 0.05); a lookup in
// 1M blobs takes about 1.2 µs, adding a pack of 16 blobs about 0.1 ms.
//
// Index files (version 1) persist the index:
//
//	"KIX1" | seal(plaintext) as TypeFile with the zero ID (metadata key)
//	plaintext: version (u8 = 1) | packs (u32 LE) | blobs (u32 LE)
//	           | packs × pack ID (32)
//	           | blobs × (type (u8) | ID (32) | pack (u32 LE) | offset (u32 LE) | length (u32 LE))
//
// where pack is a number into the file's own pack list. A file lists at
// most MaxFileBlobs blobs and as many packs (at most about 20 MiB), so
// reading one allocates a bounded amount: DecodeFile checks the size
// before it allocates and every count and reference after it
// authenticates. How files are named, written durably, merged and rebuilt
// from packs is engine/repo's part.
//
// Invariants:
//
//   - One entry per (type, ID): Add keeps the location already indexed and
//     ignores later ones; Builder keeps one of the locations it was given (a
//     blob stored twice is found in either pack; both are valid).
//   - An Index is safe for concurrent use; lookups take a read lock.
//   - Scan visits every entry present when it started, in key order, without
//     holding the lock while it calls back.
//   - DecodeFile of damaged, truncated or foreign bytes, or under the wrong
//     key, is ErrCorrupt and never a panic.
//
// Testing: lookups over both the array and the tail across merges,
// against a map as the oracle; duplicates; the in-place merge as a table;
// Scan order and concurrent use (-race); Builder with dropped packs; file
// round trips and every rejection rule; FuzzDecodeFile and
// FuzzDecodePlain. Benchmarks: lookups of present and absent IDs at 1M
// entries, and BenchmarkMemory, which reports bytes per entry both as the
// index counts them and as the Go heap grew.
package index

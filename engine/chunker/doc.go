// Package chunker splits byte streams into content-defined chunks, the unit
// of deduplication.
//
// Algorithm: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking.
// A gear rolling hash (h = h<<1 + gear[byte]) runs over each chunk; no cut
// is considered before Min; between Min and Avg a cut needs the top
// log2(Avg)+2 bits of the hash to be zero (a stricter mask), after Avg only
// the top log2(Avg)-2 bits (a looser one); at Max the chunk is cut anyway.
// This concentrates chunk sizes around Avg. Masks use the hash's top bits,
// the only ones that depend on the full 64-byte window, and hashing starts
// 64 bytes before Min so every candidate cut sees a full window: a cut
// decision depends on the 64 bytes before it and on the chunk's start (via
// Min and Max) only, which is why boundaries re-synchronize soon after an
// edit. The scan rolls two bytes per step (one shift-and-add on the
// dependency chain per two bytes) and still tests every byte.
//
// Seed: the gear table is expanded (SHA-256 in counter mode) from a per-vault
// 32-byte seed, derived from the vault's master key (engine/keys Subkeys.Gear).
// With a public table, chunk lengths — visible to anyone who sees the stored
// or transferred blobs — would let an observer test whether a known file is
// in a backup. With a secret seed they reveal less (not nothing: lengths
// still leak statistics). The trade-off: the same seed gives the same
// boundaries, so all clients of a vault deduplicate against each other, but
// two vaults never share chunks — which they could not anyway, as their
// fingerprint and encryption keys differ too.
//
// API: New(Params, Seed) returns an immutable Cutter; Cutter.Cut finds the
// first chunk of a buffer, Cutter.Boundaries splits a whole buffer, and
// Cutter.NewChunker streams an io.Reader, reusing one buffer (Max plus
// 1 MiB) for all chunks: Next does not allocate, and reads only when the
// bytes buffered hold no cut, resuming its scan where the last one
// stopped (a cut depends only on the 64 bytes before it).
// Cutter.WithParams derives a Cutter with other bounds and the same gear
// table (the seed stays inside the package). FileParams (256 KiB/1 MiB/4
// MiB) are the default for file data. ImageParams (16/64/256 KiB) bound
// the chunks of disk images, which engine/backup cuts only at 4 KiB block
// boundaries, deciding each cut by BlockHash (a keyed hash of 64 bytes
// sampled from the block): copies of a file inside an image dedupe at any
// block offset, where fixed 64 KiB blocks deduped only copies at the same
// offset modulo 64 KiB (engine/backup's package doc has the measurements).
//
// Invariants:
//
//   - Chunks tile the input in order; every chunk but the last of a stream
//     is within [Min, Max]; the last is within [1, Max].
//   - Boundaries are a pure function of (Params, Seed, data) and are part of
//     the storage format: TestGolden pins them.
//   - Streaming gives exactly the chunks Boundaries gives, whatever the
//     reader's read sizes; a read error is returned (wrapped) and sticky.
//   - Params are validated: 64 ≤ Min < Avg < Max ≤ 256 MiB, Avg a power of
//     two ≥ 256 (the masks are derived from log2(Avg)).
//
// Testing: table tests of Params; determinism, bounds and mean size for
// several parameter sets; a textbook byte-at-a-time implementation as the
// oracle for the two-byte scan; re-synchronization (≥ 95 % of chunks shared
// after inserting one byte at offset 1000 of 16 MiB of random data, ≈ 99.5 %
// measured with 64 KiB chunks); all-zero and tiny inputs; one-byte, half,
// data-with-EOF and (0, nil) readers; zero allocations per stream; FuzzChunker
// over data and parameters. BenchmarkChunker reports MB/s on random and
// text-like data.
package chunker

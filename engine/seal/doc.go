// Package seal owns the envelope of every stored blob: chunks and metadata
// objects are compressed (when it pays), then encrypted and authenticated
// with AES-256-GCM.
//
// Format (version 1): header byte (version << 4 | codec), 96-bit random
// nonce, ciphertext, 128-bit tag; Overhead is 29 bytes. The additional
// authenticated data is header | type | ID, which binds a blob to what it
// claims to be: a chunk cannot be swapped for another chunk, nor a chunk for
// a metadata object, nor its codec changed, without Open failing.
//
// Compression: Seal tries zstd at its fastest level (klauspost/compress,
// one encoder per Sealer reused through EncodeAll) on every plaintext of at
// least 64 bytes and keeps the result only if it saves at least 1/32 of the
// size; otherwise the blob is stored as is (CodecNone), so restores of
// incompressible data (media, archives, encrypted files) never pay for a
// decompression. The trial is the cheap test: the encoder recognizes
// incompressible input itself and runs at about 3.8 GB/s on random data
// (measured here), next to about 120–300 MB/s on compressible data, so a
// separate sampling heuristic would save little and misjudge mixed chunks.
//
// Encoded blobs: the compression is a keyless Coder (Encode, Decode), so
// an agent compresses what it sends and the vault seals the payload as it
// came (SealEncoded) after decoding it once to check its fingerprint;
// OpenEncoded returns a stored payload without decoding it, for an agent
// to decode. Both ends use the same codec choice and the same bounded
// decoder, so a blob sealed either way opens the same.
//
// Machine code: a plaintext whose sampled bytes hold at least 4 x86 CALL or
// JMP instructions with small displacements per KiB goes through the x86
// branch filter (x86.go) before zstd, as codec zstd+x86; Open undoes it
// after decompression. On the benchmark's file-server corpus (57 % of its
// bytes are ELF files) that stores 11 MB less of 1528 MB (zstd alone: 592
// MB); on the test binary's .text, 8.4 % less. The filter runs at about
// 2.2 GB/s, the test on three 8 KiB samples at tens of GB/s.
//
// Invariants:
//
//   - Open returns only authenticated plaintext; on any error it returns
//     dst unchanged. Damage, tampering, a wrong key, type or ID are all
//     ErrCorrupt (AEAD cannot tell them apart); an authentic blob larger
//     than the caller's limit is ErrTooLarge.
//   - Decompression is bounded by the caller's limit before any byte past it
//     is produced: the declared frame size is checked first and the
//     decoder's output capacity is the limit (WithDecodeAllCapLimit), so an
//     authentic "bomb" written by a holder of the key cannot exhaust memory.
//   - Seal does not compute IDs. A blob's ID is the keyed hash of its
//     plaintext (engine/fingerprint); callers own that, and verify
//     recomputes it after Open.
//   - Nonces are random, 96 bits: under one key the collision risk stays
//     below 2^-32 up to 2^32 blobs (NIST SP 800-38D), i.e. 4 PiB of 1 MiB
//     chunks or 256 TiB of 64 KiB chunks per vault key. Each vault has its
//     own chunk and metadata keys (engine/keys).
//   - A Sealer is safe for concurrent use and never prints its key.
//
// Testing: round trips over empty, tiny, compressible, zero and random
// inputs (checking the codec chosen), and machine code (the test binary's
// .text) through the x86 filter, smaller than plain zstd; every byte of a
// blob flipped and every truncation (header, nonce, ciphertext and tag
// classes) fails with ErrCorrupt; wrong type, ID and key fail; limits below
// the size fail with ErrTooLarge; a hand-sealed 256 MiB zstd bomb without a
// declared size stops at the limit; FuzzOpen feeds arbitrary blobs,
// FuzzRoundTrip arbitrary plaintexts, FuzzX86 arbitrary bytes through the
// filter and back. Benchmarks report Seal and Open MB/s on compressible,
// random and machine-code data, and the filter's speed.
package seal

// Package corpus generates deterministic test and benchmark inputs for the
// engine's packages: incompressible random bytes and a compressible,
// text-like stream whose zstd ratio is in the range of file-server data.
//
// Invariants: the same (seed, size) always yields the same bytes, on every
// platform and Go version (math/rand/v2's ChaCha8 and PCG are specified
// algorithms). Nothing here is used outside tests and benchmarks.
//
// Testing: corpus_test.go checks determinism and that the compressible
// stream really compresses and the random one does not.
package corpus

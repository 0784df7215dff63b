// Package ingestbench benchmarks the engine's lowest layers composed the way
// a backup uses them on one core: chunk (engine/chunker), fingerprint
// (engine/fingerprint), compress and seal (engine/seal). It has no code
// outside its benchmark; it exists so the single-core ingest ceiling is
// measured with the real packages, not assumed from the primitives' figures.
package ingestbench

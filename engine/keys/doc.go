// Package keys owns a vault's key hierarchy and its key file.
//
// Hierarchy: each vault has a random 256-bit master key (Master). Every key
// the engine uses is derived from it with HKDF-SHA-256 under its own info
// string (Subkeys): Chunk and Meta (AES-256-GCM keys of engine/seal for
// chunks and metadata objects), Fingerprint (the keyed-BLAKE3 key of
// engine/fingerprint) and Gear (the seed of engine/chunker's gear table).
// Master.ID is a public name for the key, derived the same way.
//
// Key file (File, versioned JSON): the master key is stored only wrapped
// with AES-256-GCM, twice, independently:
//
//   - by a key derived from the passphrase with Argon2id; the parameters
//     (time, memory, threads, salt) are stored in the slot. DefaultKDF is
//     3 passes over 256 MiB on 2 lanes, about 0.5–1 s on this 2-core,
//     24 GiB machine class; InsecureTestKDF is for unit tests only;
//   - by the recovery key (RecoveryKey): 256 random bits shown once to the
//     provider as 56 Crockford base32 characters in 14 groups of 4 with a
//     24-bit checksum, so a mistyped character is reported as a typo
//     (ErrRecoveryKeyFormat) rather than as a wrong key.
//
// The additional data of each wrap names the slot and the key ID, so a
// wrapped key cannot be moved between slots or files.
//
// Invariants:
//
//   - The master key never changes and is never stored in the clear;
//     ChangePassphrase re-wraps it (fresh salt and nonce) and returns a new
//     File, so no data is ever re-encrypted. The caller replaces the stored
//     file atomically.
//   - A wrong passphrase or recovery key is ErrWrongKey. A tampered slot is
//     indistinguishable from a wrong key (AES-GCM), and is also ErrWrongKey;
//     the other slot still opens. A malformed file is ErrFormat.
//   - Decode accepts only version 1 with no unknown fields or trailing data
//     and bounds the KDF parameters (≤ 64 passes, ≤ 4 GiB, ≤ 64 lanes), so a
//     damaged or hostile file cannot make unlocking exhaust the machine.
//   - Secrets never print: Key, Master, Subkeys and RecoveryKey format as
//     placeholders for every verb, refuse to marshal (ErrSecretMarshal), and
//     hold their bytes behind a func value so that even reflection over a
//     caller's unexported fields prints an address. Errors never quote
//     passphrases or key text. Bytes and RecoveryKey.Reveal are the only
//     ways out, and they are explicit.
//   - No package-level mutable state; randomness is an io.Reader parameter
//     (crypto/rand.Reader in production).
//
// Testing: subkeys are checked against HKDF computed independently (Python's
// hmac, RFC 5869 by hand) and Argon2id against Python's cryptography
// (OpenSSL); unlock with the right and wrong passphrase and recovery key;
// passphrase change keeps the master and the recovery slot; every decoder
// rejection is a table row; tampering each field gives ErrWrongKey;
// TestSecretsNeverFormat formats every secret type (alone, by pointer, in
// structs with exported and unexported fields) with %v %+v %#v %s %x %X %d
// %q and JSON and checks that no key material appears. FuzzDecode and
// FuzzParseRecoveryKey fuzz the two parsers of outside text.
package keys

// Package enrol owns the vault's certificate authority for agents: its
// key and certificate, one-time enrolment tokens, client certificates
// bound to client names, the revocation list, and the vault's server
// certificate.
//
// Files (Options.Dir, mode 0700, every file 0600, written durably: a
// temporary file fsynced, renamed, the directory fsynced):
//
//	ca.key      ECDSA P-256 private key, PKCS #8 PEM
//	ca.crt      self-signed CA certificate (20 years), PEM
//	state.json  tokens (SHA-256 of the secret, client, created, expires,
//	            used), issued certificates (serial, client, not after),
//	            revocations (serial, client, when)
//
// Enrolment: the operator creates a token for a client name (NewToken);
// its text, keep1.<base32>, carries a 20-byte random secret, the SHA-256
// fingerprint of the CA certificate and the vault's address. The agent
// (engine/remote.Enrol) connects over TLS 1.3 without a certificate,
// accepts the vault only if its chain contains the pinned CA and a server
// certificate that CA issued for ServerName, and sends the secret with a
// public key it generated; Enrol checks the token and returns a
// certificate for that key, CN <name>, URI SAN keep-client:<name>, client
// auth only, valid ClientValidity. After that the agent connects with
// mutual TLS 1.3 and the vault learns the client name from the
// certificate alone (VerifyClient).
//
// Invariants:
//
//   - The CA key never leaves Dir; the token secret is never stored (only
//     its hash) and never printed (Token formats without it).
//   - A token works once: Enrol marks it used durably before it returns a
//     certificate, so not even a crash in between lets it work twice. An
//     expired token (by Options.Now) is refused as expired for 7 days
//     after its expiry, then forgotten (unknown).
//   - VerifyClient accepts only a leaf that chains to this CA, for client
//     auth, valid now by Options.Now, naming exactly one valid client and
//     not revoked; each refusal is its own error (ErrUnknownCA, ErrExpired,
//     ErrRevoked, ErrNoClient) whose text tells the operator what to do.
//   - Revocation is by client (every certificate issued to it), durable
//     before RevokeClient returns, and checked at every new connection.
//   - Server certificates are issued fresh at each start (key in memory
//     only): agents trust the CA, never a server key.
//   - No package-level mutable state; time and randomness are options.
//
// Testing: enrol_test.go runs tokens through issue, use, reuse (also after
// reopening), expiry by a fake clock, unknown secrets, bad names and
// keys; certificates of another CA, revoked and expired ones; file modes;
// damaged state and a missing key. FuzzParseToken and FuzzDecodeState
// fuzz the two parsers. engine/remote's tests run the whole flow over TLS.
package enrol

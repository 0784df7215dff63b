// Package ikecrypto is the cryptographic layer of keep's IKEv2 stack
// (import path keep/ipsec/ike/crypto). It works on []byte and small local
// types and does not depend on the message codec; transform, group, method
// and notify numbers are the IANA values.
//
// What is implemented, with the checks performed and the governing text:
//
//   - PRF (prf.go): PRF_HMAC_SHA2_256/384/512 (IDs 5/6/7, RFC 4868 §2.1) and
//     prf+ (RFC 7296 §2.13) with the 255-iteration limit (ErrPRFPlusTooLong).
//   - Key derivation (keys.go): SKEYSEED = prf(Ni | Nr, g^ir) and the seven
//     IKE SA keys from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (RFC 7296 §2.14);
//     for ENCR_AES_GCM_16 there are no SK_a keys and each SK_e is key|salt
//     (RFC 5282 §7.1). IKE SA rekey SKEYSEED = prf(SK_d(old), g^ir(new) | Ni |
//     Nr) with the old SA's PRF (RFC 7296 §2.18). CHILD SA KEYMAT =
//     prf+(SK_d, [g^ir(new) |] Ni | Nr), split initiator→responder first,
//     encryption before integrity (RFC 7296 §2.17); rfc4106 AES-256 takes 36
//     octets per direction (RFC 4106 §8.1). Nonce length check (§2.10).
//   - SK payload (aead.go): ENCR_AES_GCM_16 per RFC 5282: nonce = 4-octet
//     salt from the key material | 8-octet explicit IV (§3.1, §7.1), IVs from
//     a 64-bit counter per key that never repeats, caller-supplied associated
//     data (IKE header + SK generic header, §5.1), 16-octet ICV, Pad Length
//     octet appended on Seal and checked on Open (§3).
//   - Diffie-Hellman (dh.go): groups 14 (MODP 2048, RFC 3526, math/big), 19
//     and 20 (ECP, RFC 5903, crypto/ecdh) and 31 (Curve25519, RFC 8031,
//     crypto/ecdh). Key Exchange Data encodings: MODP left-padded to 256
//     octets, ECP x | y without the SEC 1 prefix (RFC 5903 §7), X25519 32
//     octets. Shared secret g^ir: padded MODP value, ECP x-coordinate, X25519
//     output. RFC 6989 checks: exact length; ECP points must be on the curve
//     with canonical coordinates and not the point at infinity (§2.3,
//     enforced by crypto/ecdh NewPublicKey, tested here); MODP 1 < y < p-1
//     (§2.1, sufficient for safe primes); X25519 all-zero shared secret
//     rejected (RFC 8031 §2.3). Errors are *DHError wrapping sentinels.
//   - AUTH (auth_psk.go, auth_sig.go, sigalg.go): the signed octets
//     RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload) and the PSK
//     MAC prf(prf(PSK, "Key Pad for IKEv2"), octets) (RFC 7296 §2.15),
//     verified in constant time. Method 14 (RFC 7427 §3): Len |
//     AlgorithmIdentifier | signature for ECDSA (DER Ecdsa-Sig-Value),
//     RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256/384/512, and Ed25519
//     (RFC 8420); ECDSA and PKCS#1 blobs are the exact RFC 7427 Appendix A
//     bytes; received AlgorithmIdentifiers are parsed strictly (DER, known
//     forms only, PSS MGF1 hash = message hash, trailerField 1 only). SHA-1
//     and RSA below 2048 bits are refused (RFC 8247 §3.2). Methods 9/10/11
//     (RFC 4754, r | s) sign and verify; method 1 (RSA/SHA-1) verifies only
//     and only when enabled. SIGNATURE_HASH_ALGORITHMS data (RFC 7427 §4).
//   - Certificates (cert.go): CERTREQ data = SHA-1 of each trusted CA's
//     SubjectPublicKeyInfo (RFC 7296 §3.7); chain validation with
//     crypto/x509 against a pinned pool at an injectable time (RFC 5280 §6),
//     KeyUsage must allow digitalSignature/nonRepudiation (RFC 4945
//     §5.1.3.2), EKU not required by default (RFC 4945 §5.1.3.12), ID binding
//     (FQDN→dNSName, RFC822→rfc822Name, IP→iPAddress, DER_ASN1_DN→subject;
//     RFC 4945 §3). Errors are *CertError wrapping ErrCertUntrusted,
//     ErrCertExpired, ErrCertIDMismatch, ErrCertKeyUsage or ErrCertMalformed.
//   - NAT detection (nat.go): SHA-1(SPIi | SPIr | IP | Port) (RFC 7296
//     §2.23). Responder COOKIE = version | SHA-256(Ni | IPi | SPIi | secret)
//     with a rotating, versioned secret (RFC 7296 §2.6).
//
// Key material is held in Secret (and structs that implement fmt.Formatter);
// fmt, encoding/json and log/slog print a placeholder, never the bytes.
package ikecrypto

package ikecrypto

import "errors"

// Sentinel errors. Functions wrap them in the typed errors below (DHError,
// CertError, AuthError) or return them directly; test with errors.Is.
var (
	// PRF / key derivation.
	ErrUnsupportedPRF  = errors.New("ikecrypto: unsupported PRF transform")
	ErrPRFPlusTooLong  = errors.New("ikecrypto: prf+ output longer than 255 PRF blocks")
	ErrInvalidNonce    = errors.New("ikecrypto: nonce length out of range")
	ErrInvalidKeyLen   = errors.New("ikecrypto: invalid key length")
	ErrUnsupportedEncr = errors.New("ikecrypto: unsupported encryption transform")

	// SK payload AEAD.
	ErrSKTooShort     = errors.New("ikecrypto: SK payload too short")
	ErrSKAuthFailed   = errors.New("ikecrypto: SK payload integrity check failed")
	ErrSKBadPadding   = errors.New("ikecrypto: SK payload pad length exceeds plaintext")
	ErrIVExhausted    = errors.New("ikecrypto: IV counter exhausted; rekey required")
	ErrPlaintextLarge = errors.New("ikecrypto: plaintext too large")

	// Diffie-Hellman.
	ErrUnsupportedGroup   = errors.New("ikecrypto: unsupported Diffie-Hellman group")
	ErrPublicValueLength  = errors.New("ikecrypto: key exchange data has wrong length")
	ErrInvalidPublicValue = errors.New("ikecrypto: invalid Diffie-Hellman public value")
	ErrZeroSharedSecret   = errors.New("ikecrypto: all-zero (low-order) shared secret")

	// Authentication.
	ErrAuthMismatch          = errors.New("ikecrypto: AUTH value does not verify")
	ErrUnsupportedAuthMethod = errors.New("ikecrypto: unsupported authentication method")
	ErrMalformedAuth         = errors.New("ikecrypto: malformed AUTH payload data")
	ErrUnknownAlgorithmID    = errors.New("ikecrypto: unknown or non-canonical signature AlgorithmIdentifier")
	ErrWeakAlgorithm         = errors.New("ikecrypto: signature algorithm not allowed (weak hash or key)")
	ErrKeyMismatch           = errors.New("ikecrypto: public key type does not match signature algorithm")
	ErrMalformedNotify       = errors.New("ikecrypto: malformed notify data")

	// Certificates.
	ErrCertMalformed    = errors.New("ikecrypto: malformed certificate")
	ErrCertUntrusted    = errors.New("ikecrypto: certificate not issued by a trusted CA")
	ErrCertExpired      = errors.New("ikecrypto: certificate expired or not yet valid")
	ErrCertIDMismatch   = errors.New("ikecrypto: peer identity does not match certificate")
	ErrCertKeyUsage     = errors.New("ikecrypto: certificate key usage does not permit IKE signing")
	ErrMalformedCertReq = errors.New("ikecrypto: CERTREQ data is not a list of SHA-1 hashes")
)

package ikecrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// EncodeSignatureAuthData builds the AUTH Authentication Data for method 14
// (RFC 7427 §3): ASN.1 Length (1 octet) | AlgorithmIdentifier | Signature.
func EncodeSignatureAuthData(algID, sig []byte) ([]byte, error) {
	if len(algID) == 0 || len(algID) > 255 {
		return nil, fmt.Errorf("%w: AlgorithmIdentifier of %d octets", ErrMalformedAuth, len(algID))
	}
	out := make([]byte, 0, 1+len(algID)+len(sig))
	out = append(out, byte(len(algID)))
	out = append(out, algID...)
	return append(out, sig...), nil
}

// ParseSignatureAuthData splits method-14 AUTH data and recognises the
// AlgorithmIdentifier with ParseAlgorithmIdentifier.
func ParseSignatureAuthData(data []byte) (alg SigAlg, algID, sig []byte, err error) {
	if len(data) < 1 || int(data[0]) == 0 || len(data) < 1+int(data[0])+1 {
		return SigAlg{}, nil, nil, &AuthError{Method: AuthDigitalSignature, Err: ErrMalformedAuth, Detail: "truncated"}
	}
	n := int(data[0])
	algID, sig = data[1:1+n], data[1+n:]
	alg, err = ParseAlgorithmIdentifier(algID)
	if err != nil {
		return SigAlg{}, nil, nil, &AuthError{Method: AuthDigitalSignature, Err: ErrUnknownAlgorithmID, Detail: err.Error()}
	}
	return alg, algID, sig, nil
}

// classicECDSA describes methods 9, 10 and 11 (RFC 4754 §3, §8): fixed curve
// and hash, signature r | s with each integer left-padded to the curve size.
func classicECDSA(m AuthMethod) (elliptic.Curve, crypto.Hash, int, bool) {
	switch m {
	case AuthECDSASHA256P256:
		return elliptic.P256(), crypto.SHA256, 32, true
	case AuthECDSASHA384P384:
		return elliptic.P384(), crypto.SHA384, 48, true
	case AuthECDSASHA512P521:
		return elliptic.P521(), crypto.SHA512, 66, true
	}
	return nil, 0, 0, false
}

func digest(h crypto.Hash, msg []byte) []byte {
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

// SignAuth produces the AUTH Authentication Data over signedOctets (see
// SignedOctets) for a signature method:
//   - AuthDigitalSignature (14): alg selects the scheme; the result is
//     Len | AlgorithmIdentifier | Signature (ECDSA signatures are DER
//     Ecdsa-Sig-Value, RFC 7427 §3);
//   - AuthECDSASHA256P256/384P384/512P521 (9/10/11): alg is ignored; the key
//     must be on the method's curve; the result is r | s (RFC 4754).
//
// Method 1 is verify-only and method 2 is PSKAuth.
func SignAuth(method AuthMethod, alg SigAlg, signer crypto.Signer, rand io.Reader, signedOctets []byte) ([]byte, error) {
	if curve, h, size, ok := classicECDSA(method); ok {
		pub, isEC := signer.Public().(*ecdsa.PublicKey)
		if !isEC || pub.Curve != curve {
			return nil, &AuthError{Method: method, Err: ErrKeyMismatch}
		}
		der, err := signer.Sign(rand, digest(h, signedOctets), h)
		if err != nil {
			return nil, err
		}
		r, s, err := parseECDSADER(der)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	}
	if method != AuthDigitalSignature {
		return nil, &AuthError{Method: method, Err: ErrUnsupportedAuthMethod}
	}
	if err := checkKeyForAlg(alg, signer.Public(), 2048); err != nil {
		return nil, &AuthError{Method: method, Err: err, Detail: alg.String()}
	}
	algID, err := alg.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	var sig []byte
	switch alg.Kind {
	case SigEd25519:
		sig, err = signer.Sign(rand, signedOctets, crypto.Hash(0))
	case SigRSAPSS:
		h := alg.Hash.cryptoHash()
		sig, err = signer.Sign(rand, digest(h, signedOctets), &rsa.PSSOptions{SaltLength: alg.SaltLen, Hash: h})
	default:
		h := alg.Hash.cryptoHash()
		sig, err = signer.Sign(rand, digest(h, signedOctets), h)
	}
	if err != nil {
		return nil, err
	}
	return EncodeSignatureAuthData(algID, sig)
}

func parseECDSADER(der []byte) (*big.Int, *big.Int, error) {
	var r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return nil, nil, fmt.Errorf("%w: bad ECDSA signature encoding", ErrMalformedAuth)
	}
	return r, s, nil
}

// checkKeyForAlg checks that pub fits alg and is strong enough.
func checkKeyForAlg(alg SigAlg, pub crypto.PublicKey, minRSABits int) error {
	switch alg.Kind {
	case SigECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return ErrKeyMismatch
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return ErrWeakAlgorithm
		}
	case SigRSAPKCS1, SigRSAPSS:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return ErrKeyMismatch
		}
		if k.N.BitLen() < minRSABits {
			return ErrWeakAlgorithm
		}
	case SigEd25519:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return ErrKeyMismatch
		}
		return nil
	default:
		return ErrUnknownAlgorithmID
	}
	switch alg.Hash {
	case HashSHA256, HashSHA384, HashSHA512:
		return nil
	}
	return ErrWeakAlgorithm
}

// VerifyOptions tunes VerifyAuth. The zero value (or nil) is the strict
// default.
type VerifyOptions struct {
	// MinRSABits is the minimum RSA modulus; 0 means 2048 (RFC 8247 §3.2).
	MinRSABits int
	// AllowRSASHA1 enables legacy method 1 (RSA PKCS#1 v1.5 with SHA-1).
	AllowRSASHA1 bool
	// AllowedHashes restricts the method-14 hash, e.g. to what we announced
	// in SIGNATURE_HASH_ALGORITHMS. nil allows SHA-256/384/512.
	AllowedHashes []HashAlg
}

// VerifyAuth verifies the AUTH Authentication Data of a signature method
// against the peer's public key (normally from its validated certificate).
// signedOctets come from SignedOctets with the peer's message, our nonce, the
// peer's SK_p and the peer's ID payload. Failures are *AuthError wrapping
// ErrAuthMismatch, ErrUnknownAlgorithmID, ErrWeakAlgorithm, ErrKeyMismatch,
// ErrMalformedAuth or ErrUnsupportedAuthMethod.
func VerifyAuth(method AuthMethod, authData []byte, pub crypto.PublicKey, signedOctets []byte, opts *VerifyOptions) error {
	var o VerifyOptions
	if opts != nil {
		o = *opts
	}
	if o.MinRSABits == 0 {
		o.MinRSABits = 2048
	}
	fail := func(err error, detail string) error {
		return &AuthError{Method: method, Err: err, Detail: detail}
	}
	switch method {
	case AuthRSASignature:
		if !o.AllowRSASHA1 {
			return fail(ErrWeakAlgorithm, "RSA with SHA-1 (method 1) disabled")
		}
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fail(ErrKeyMismatch, "")
		}
		if k.N.BitLen() < o.MinRSABits {
			return fail(ErrWeakAlgorithm, "RSA key too small")
		}
		if rsa.VerifyPKCS1v15(k, crypto.SHA1, digest(crypto.SHA1, signedOctets), authData) != nil {
			return fail(ErrAuthMismatch, "")
		}
		return nil
	case AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521:
		curve, h, size, _ := classicECDSA(method)
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != curve {
			return fail(ErrKeyMismatch, "")
		}
		if len(authData) != 2*size {
			return fail(ErrMalformedAuth, fmt.Sprintf("signature of %d octets, want %d", len(authData), 2*size))
		}
		r := new(big.Int).SetBytes(authData[:size])
		s := new(big.Int).SetBytes(authData[size:])
		if !ecdsa.Verify(k, digest(h, signedOctets), r, s) {
			return fail(ErrAuthMismatch, "")
		}
		return nil
	case AuthDigitalSignature:
	default:
		return fail(ErrUnsupportedAuthMethod, "")
	}

	alg, _, sig, err := ParseSignatureAuthData(authData)
	if err != nil {
		return err
	}
	if alg.Kind != SigEd25519 {
		allowed := o.AllowedHashes
		if allowed == nil {
			allowed = []HashAlg{HashSHA256, HashSHA384, HashSHA512}
		}
		if _, ok := SelectHash([]HashAlg{alg.Hash}, allowed); !ok {
			return fail(ErrWeakAlgorithm, alg.String())
		}
	}
	if err := checkKeyForAlg(alg, pub, o.MinRSABits); err != nil {
		return fail(err, alg.String())
	}
	var ok bool
	switch alg.Kind {
	case SigECDSA:
		ok = ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest(alg.Hash.cryptoHash(), signedOctets), sig)
	case SigRSAPKCS1:
		h := alg.Hash.cryptoHash()
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest(h, signedOctets), sig) == nil
	case SigRSAPSS:
		h := alg.Hash.cryptoHash()
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest(h, signedOctets), sig,
			&rsa.PSSOptions{SaltLength: alg.SaltLen, Hash: h}) == nil
	case SigEd25519:
		ok = ed25519.Verify(pub.(ed25519.PublicKey), signedOctets, sig)
	}
	if !ok {
		return fail(ErrAuthMismatch, alg.String())
	}
	return nil
}

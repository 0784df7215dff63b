package ikecrypto

import (
	"crypto/subtle"
	"fmt"
)

// AuthMethod is an IKEv2 Authentication Method (IANA "IKEv2 Authentication
// Method").
type AuthMethod uint8

// Authentication methods handled by this package.
const (
	AuthRSASignature     AuthMethod = 1  // RSA PKCS#1 v1.5 with SHA-1 (RFC 7296 §3.8); verify only
	AuthSharedKeyMIC     AuthMethod = 2  // PSK (RFC 7296 §2.15)
	AuthECDSASHA256P256  AuthMethod = 9  // RFC 4754
	AuthECDSASHA384P384  AuthMethod = 10 // RFC 4754
	AuthECDSASHA512P521  AuthMethod = 11 // RFC 4754
	AuthDigitalSignature AuthMethod = 14 // RFC 7427
)

func (m AuthMethod) String() string {
	switch m {
	case AuthRSASignature:
		return "RSA_SIG"
	case AuthSharedKeyMIC:
		return "PSK"
	case AuthECDSASHA256P256:
		return "ECDSA_SHA256_P256"
	case AuthECDSASHA384P384:
		return "ECDSA_SHA384_P384"
	case AuthECDSASHA512P521:
		return "ECDSA_SHA512_P521"
	case AuthDigitalSignature:
		return "DIGITAL_SIGNATURE"
	}
	return fmt.Sprintf("AUTH(%d)", uint8(m))
}

// keyPad is the fixed string of RFC 7296 §2.15 (17 ASCII octets, no NUL).
const keyPad = "Key Pad for IKEv2"

// SignedOctets builds the octets that AUTH covers (RFC 7296 §2.15):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//	ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//	MACedIDFor{I,R}       = prf(SK_p{i,r}, RestOfID{I,R}PayloadData)
//
// realMessage is the signer's own IKE_SA_INIT message exactly as sent (from
// the first octet of the IKE header to the end); peerNonce is the Nonce Data
// of the other side; skp is SK_pi for the initiator and SK_pr for the
// responder; restOfIDPayload is the ID payload after its 4-octet generic
// header (ID Type, three RESERVED octets, Identification Data). The same
// function serves the verifier, who passes the peer's message, its own
// nonce, the peer's SK_p and the received ID payload.
func SignedOctets(p PRF, realMessage, peerNonce, skp, restOfIDPayload []byte) []byte {
	mac := p.Sum(skp, restOfIDPayload)
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac))
	return append(append(append(out, realMessage...), peerNonce...), mac...)
}

// PSKAuth computes the AUTH Data for method 2 (RFC 7296 §2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
func PSKAuth(p PRF, psk []byte, signedOctets []byte) []byte {
	k := p.Sum(psk, []byte(keyPad))
	defer clear(k)
	return p.Sum(k, signedOctets)
}

// VerifyPSKAuth recomputes the PSK AUTH value and compares it in constant
// time. It returns an *AuthError wrapping ErrAuthMismatch on failure.
func VerifyPSKAuth(p PRF, psk, signedOctets, received []byte) error {
	want := PSKAuth(p, psk, signedOctets)
	if subtle.ConstantTimeCompare(want, received) != 1 {
		return &AuthError{Method: AuthSharedKeyMIC, Err: ErrAuthMismatch}
	}
	return nil
}

// AuthError describes a failed authentication. Err is one of the AUTH
// sentinel errors.
type AuthError struct {
	Method AuthMethod
	Err    error
	Detail string
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("%v (auth method %v)", e.Err, e.Method)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *AuthError) Unwrap() error { return e.Err }

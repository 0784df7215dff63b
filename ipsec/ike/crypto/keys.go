package ikecrypto

import (
	"fmt"
)

// Nonce bounds (RFC 7296 §2.10 and §3.9): 16..256 octets and at least half
// the PRF key size.
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// ValidateNonce checks a received Ni or Nr against RFC 7296 §2.10.
func ValidateNonce(p PRF, nonce []byte) error {
	n := len(nonce)
	if n < MinNonceLen || n > MaxNonceLen || n < (p.KeySize()+1)/2 {
		return fmt.Errorf("%w: %d octets", ErrInvalidNonce, n)
	}
	return nil
}

// IKEKeyLengths gives the per-key lengths, in octets, of the IKE SA keys that
// depend on the negotiated transforms. SK_d, SK_pi and SK_pr always have the
// PRF key size.
type IKEKeyLengths struct {
	// Integ is the length of SK_ai/SK_ar; 0 for combined-mode ciphers such as
	// AES-GCM (RFC 5282 §7: no integrity transform, no SK_a keys).
	Integ int
	// Encr is the length of SK_ei/SK_er including any salt; for AES-GCM it is
	// the AES key length plus 4 salt octets (RFC 5282 §7.1).
	Encr int
}

// AESGCM16IKEKeyLengths are the key lengths for ENCR_AES_GCM_16 with a
// 256-bit key and no integrity transform: 32+4 octets per SK_e key.
var AESGCM16IKEKeyLengths = IKEKeyLengths{Integ: 0, Encr: 32 + gcmSaltSize}

// IKESAKeys are the seven IKE SA keys of RFC 7296 §2.14, in prf+ order.
// For AES-GCM SKai and SKar are empty.
type IKESAKeys struct {
	SKd, SKai, SKar, SKei, SKer, SKpi, SKpr Secret
}

// Format prints a placeholder; keys are never formatted.
func (k *IKESAKeys) Format(f fmt.State, _ rune) { redactedFormat(f, "IKESAKeys") }

// Wipe zeroes all keys.
func (k *IKESAKeys) Wipe() {
	for _, s := range []Secret{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		s.Wipe()
	}
}

// SKEYSEED computes SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). gir is
// the DH shared secret in IKE's encoding (see KeyShare.SharedSecret).
func SKEYSEED(p PRF, ni, nr, gir []byte) Secret {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	return Secret(p.Sum(key, gir))
}

// RekeySKEYSEED computes the SKEYSEED of a rekeyed IKE SA (RFC 7296 §2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// p must be the PRF of the OLD IKE SA (the rekey exchange belongs to it);
// the new SA's keys are then expanded with DeriveIKESAKeys using the new SA's
// PRF, nonces and SPIs.
func RekeySKEYSEED(p PRF, oldSKd, girNew, ni, nr []byte) Secret {
	return Secret(p.Sum(oldSKd, girNew, ni, nr))
}

// DeriveIKESAKeys expands SKEYSEED (RFC 7296 §2.14):
//
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	    = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
func DeriveIKESAKeys(p PRF, skeyseed, ni, nr, spii, spir []byte, l IKEKeyLengths) (*IKESAKeys, error) {
	if len(spii) != 8 || len(spir) != 8 {
		return nil, fmt.Errorf("%w: IKE SPIs must be 8 octets", ErrInvalidKeyLen)
	}
	if l.Integ < 0 || l.Encr <= 0 {
		return nil, fmt.Errorf("%w: %+v", ErrInvalidKeyLen, l)
	}
	ks := p.KeySize()
	total := 3*ks + 2*l.Integ + 2*l.Encr
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(append(append(seed, ni...), nr...), spii...), spir...)
	km, err := p.Plus(skeyseed, seed, total)
	if err != nil {
		return nil, err
	}
	defer km.Wipe()
	r := splitter{b: km}
	k := &IKESAKeys{
		SKd:  r.take(ks),
		SKai: r.take(l.Integ),
		SKar: r.take(l.Integ),
		SKei: r.take(l.Encr),
		SKer: r.take(l.Encr),
		SKpi: r.take(ks),
		SKpr: r.take(ks),
	}
	return k, nil
}

// ChildSAKeys is the KEYMAT of a CHILD SA split per RFC 7296 §2.17: all keys
// for the initiator-to-responder SA come first, then the responder-to-
// initiator SA; within one direction the encryption key precedes the
// integrity key. For rfc4106(gcm(aes)) with AES-256 each Encr key is 36
// octets (32-octet key then 4-octet salt, RFC 4106 §8.1) and Integ is empty.
type ChildSAKeys struct {
	EncrI, IntegI Secret // initiator -> responder
	EncrR, IntegR Secret // responder -> initiator
}

// Format prints a placeholder; keys are never formatted.
func (k *ChildSAKeys) Format(f fmt.State, _ rune) { redactedFormat(f, "ChildSAKeys") }

// Wipe zeroes all keys.
func (k *ChildSAKeys) Wipe() {
	for _, s := range []Secret{k.EncrI, k.IntegI, k.EncrR, k.IntegR} {
		s.Wipe()
	}
}

// ESPAESGCM256KeyLen is the KEYMAT length per direction for ESP
// ENCR_AES_GCM_16 with a 256-bit key (RFC 4106 §8.1: key | 4-octet salt).
const ESPAESGCM256KeyLen = 32 + gcmSaltSize

// DeriveChildSAKeys computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
// (RFC 7296 §2.17) and splits it. girNew is nil when the exchange carried no
// KE payload (IKE_AUTH, or CREATE_CHILD_SA without PFS). Ni and Nr are the
// nonces of the exchange that creates the CHILD SA.
func DeriveChildSAKeys(p PRF, skd, girNew, ni, nr []byte, encrLen, integLen int) (*ChildSAKeys, error) {
	if encrLen < 0 || integLen < 0 || encrLen+integLen == 0 {
		return nil, fmt.Errorf("%w: encr %d integ %d", ErrInvalidKeyLen, encrLen, integLen)
	}
	seed := make([]byte, 0, len(girNew)+len(ni)+len(nr))
	seed = append(append(append(seed, girNew...), ni...), nr...)
	km, err := p.Plus(skd, seed, 2*(encrLen+integLen))
	clear(seed)
	if err != nil {
		return nil, err
	}
	defer km.Wipe()
	r := splitter{b: km}
	return &ChildSAKeys{
		EncrI:  r.take(encrLen),
		IntegI: r.take(integLen),
		EncrR:  r.take(encrLen),
		IntegR: r.take(integLen),
	}, nil
}

type splitter struct {
	b   []byte
	off int
}

func (s *splitter) take(n int) Secret {
	if n == 0 {
		return Secret{}
	}
	out := cloneSecret(s.b[s.off : s.off+n])
	s.off += n
	return out
}

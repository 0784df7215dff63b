package ikecrypto

import (
	"crypto"
	"encoding/asn1"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// HashAlg is an IKEv2 Hash Algorithm Identifier (RFC 7427 §7, IANA "IKEv2
// Hash Algorithms"), as carried in the SIGNATURE_HASH_ALGORITHMS notify.
type HashAlg uint16

// Hash algorithm identifiers.
const (
	HashSHA1     HashAlg = 1
	HashSHA256   HashAlg = 2
	HashSHA384   HashAlg = 3
	HashSHA512   HashAlg = 4
	HashIdentity HashAlg = 5 // RFC 8420 (EdDSA)
)

// NotifySignatureHashAlgorithms is the status notify type (RFC 7427 §4).
const NotifySignatureHashAlgorithms uint16 = 16431

func (h HashAlg) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA256:
		return "SHA2_256"
	case HashSHA384:
		return "SHA2_384"
	case HashSHA512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return fmt.Sprintf("HASH(%d)", uint16(h))
}

// cryptoHash maps to crypto.Hash; 0 for Identity or unknown.
func (h HashAlg) cryptoHash() crypto.Hash {
	switch h {
	case HashSHA1:
		return crypto.SHA1
	case HashSHA256:
		return crypto.SHA256
	case HashSHA384:
		return crypto.SHA384
	case HashSHA512:
		return crypto.SHA512
	}
	return 0
}

// EncodeSignatureHashAlgorithms builds the Notification Data of
// SIGNATURE_HASH_ALGORITHMS: a list of 2-octet hash IDs (RFC 7427 §4).
func EncodeSignatureHashAlgorithms(hs []HashAlg) []byte {
	out := make([]byte, 2*len(hs))
	for i, h := range hs {
		binary.BigEndian.PutUint16(out[2*i:], uint16(h))
	}
	return out
}

// DecodeSignatureHashAlgorithms parses SIGNATURE_HASH_ALGORITHMS data.
// Unknown identifiers are returned as-is (receivers ignore them); empty or
// odd-length data is malformed.
func DecodeSignatureHashAlgorithms(b []byte) ([]HashAlg, error) {
	if len(b) == 0 || len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: SIGNATURE_HASH_ALGORITHMS of %d octets", ErrMalformedNotify, len(b))
	}
	out := make([]HashAlg, len(b)/2)
	for i := range out {
		out[i] = HashAlg(binary.BigEndian.Uint16(b[2*i:]))
	}
	return out, nil
}

// SelectHash returns the first of our preferred hashes that the peer
// announced.
func SelectHash(preferred, peer []HashAlg) (HashAlg, bool) {
	for _, p := range preferred {
		for _, q := range peer {
			if p == q {
				return p, true
			}
		}
	}
	return 0, false
}

// SigKind is the signature scheme family of an RFC 7427 AlgorithmIdentifier.
type SigKind uint8

// Signature scheme families.
const (
	SigECDSA    SigKind = iota + 1 // ecdsa-with-SHA*, signature DER Ecdsa-Sig-Value
	SigRSAPKCS1                    // sha*WithRSAEncryption (RSASSA-PKCS1-v1_5)
	SigRSAPSS                      // id-RSASSA-PSS with parameters
	SigEd25519                     // id-Ed25519 (RFC 8420), hash Identity
)

func (k SigKind) String() string {
	switch k {
	case SigECDSA:
		return "ECDSA"
	case SigRSAPKCS1:
		return "RSA-PKCS1v1.5"
	case SigRSAPSS:
		return "RSASSA-PSS"
	case SigEd25519:
		return "Ed25519"
	}
	return fmt.Sprintf("SigKind(%d)", uint8(k))
}

// SigAlg is a signature algorithm as named by an RFC 7427 AlgorithmIdentifier.
// For RSASSA-PSS, Hash is used for both the message digest and MGF1, and
// SaltLen is the salt length in octets.
type SigAlg struct {
	Kind    SigKind
	Hash    HashAlg
	SaltLen int
}

func (a SigAlg) String() string {
	if a.Kind == SigRSAPSS {
		return fmt.Sprintf("%v-%v-salt%d", a.Kind, a.Hash, a.SaltLen)
	}
	return fmt.Sprintf("%v-%v", a.Kind, a.Hash)
}

// Convenience constructors.
var (
	ECDSAWithSHA256  = SigAlg{Kind: SigECDSA, Hash: HashSHA256}
	ECDSAWithSHA384  = SigAlg{Kind: SigECDSA, Hash: HashSHA384}
	ECDSAWithSHA512  = SigAlg{Kind: SigECDSA, Hash: HashSHA512}
	RSAWithSHA256    = SigAlg{Kind: SigRSAPKCS1, Hash: HashSHA256}
	RSAWithSHA384    = SigAlg{Kind: SigRSAPKCS1, Hash: HashSHA384}
	RSAWithSHA512    = SigAlg{Kind: SigRSAPKCS1, Hash: HashSHA512}
	RSAPSSWithSHA256 = SigAlg{Kind: SigRSAPSS, Hash: HashSHA256, SaltLen: 32}
	RSAPSSWithSHA384 = SigAlg{Kind: SigRSAPSS, Hash: HashSHA384, SaltLen: 48}
	RSAPSSWithSHA512 = SigAlg{Kind: SigRSAPSS, Hash: HashSHA512, SaltLen: 64}
	Ed25519Sig       = SigAlg{Kind: SigEd25519, Hash: HashIdentity}
)

var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSASHA1     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
)

type oidHash struct {
	oid  asn1.ObjectIdentifier
	hash HashAlg
}

var (
	ecdsaOIDs = []oidHash{{oidECDSASHA1, HashSHA1}, {oidECDSASHA256, HashSHA256}, {oidECDSASHA384, HashSHA384}, {oidECDSASHA512, HashSHA512}}
	rsaOIDs   = []oidHash{{oidSHA1WithRSA, HashSHA1}, {oidSHA256WithRSA, HashSHA256}, {oidSHA384WithRSA, HashSHA384}, {oidSHA512WithRSA, HashSHA512}}
	hashOIDs  = []oidHash{{oidSHA1, HashSHA1}, {oidSHA256, HashSHA256}, {oidSHA384, HashSHA384}, {oidSHA512, HashSHA512}}
)

func lookupOID(t []oidHash, oid asn1.ObjectIdentifier) (HashAlg, bool) {
	for _, e := range t {
		if e.oid.Equal(oid) {
			return e.hash, true
		}
	}
	return 0, false
}

func lookupHash(t []oidHash, h HashAlg) (asn1.ObjectIdentifier, bool) {
	for _, e := range t {
		if e.hash == h {
			return e.oid, true
		}
	}
	return nil, false
}

// pssDefaultSalt is the DER DEFAULT of saltLength (RFC 4055 §3.1).
const pssDefaultSalt = 20

// AlgorithmIdentifier returns the DER AlgorithmIdentifier for a, as put in
// the AUTH payload of method 14 (RFC 7427 §3). ECDSA and PKCS#1 v1.5 produce
// exactly the blobs of RFC 7427 Appendix A.1 and A.3. RSASSA-PSS is encoded in
// DER (RFC 4055 §3.1): hash and MGF1 AlgorithmIdentifiers with NULL
// parameters, saltLength unless it is the default 20, and no trailerField
// (it is DEFAULT 1, so DER omits it; this is also what strongSwan sends). The
// RFC 7427 A.4.3 example, which spells out trailerField, is accepted by
// ParseAlgorithmIdentifier.
func (a SigAlg) AlgorithmIdentifier() ([]byte, error) {
	var b cryptobyte.Builder
	switch a.Kind {
	case SigECDSA:
		oid, ok := lookupHash(ecdsaOIDs, a.Hash)
		if !ok {
			return nil, fmt.Errorf("%w: %v", ErrUnknownAlgorithmID, a)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
		})
	case SigRSAPKCS1:
		oid, ok := lookupHash(rsaOIDs, a.Hash)
		if !ok {
			return nil, fmt.Errorf("%w: %v", ErrUnknownAlgorithmID, a)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1NULL()
		})
	case SigEd25519:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidEd25519)
		})
	case SigRSAPSS:
		hoid, ok := lookupHash(hashOIDs, a.Hash)
		if !ok || a.Hash == HashSHA1 || a.SaltLen < 0 {
			return nil, fmt.Errorf("%w: %v", ErrWeakAlgorithm, a)
		}
		hashAlgID := func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(hoid)
				b.AddASN1NULL()
			})
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidRSAPSS)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), hashAlgID)
				b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1)
						hashAlgID(b)
					})
				})
				if a.SaltLen != pssDefaultSalt {
					b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1Int64(int64(a.SaltLen))
					})
				}
			})
		})
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownAlgorithmID, a)
	}
	return b.Bytes()
}

// maxPSSSalt bounds the saltLength accepted from a peer (RSA-8192/SHA-512
// cannot use more than 958 octets; anything near this is nonsense anyway).
const maxPSSSalt = 1024

// ParseAlgorithmIdentifier recognises an RFC 7427 AlgorithmIdentifier
// strictly: DER only (cryptobyte rejects non-minimal lengths), no trailing
// data at any level, and only these forms:
//   - ecdsa-with-SHA1/256/384/512 with absent parameters (RFC 7427 A.3);
//   - sha1/256/384/512WithRSAEncryption with NULL parameters (A.1);
//   - id-Ed25519 with absent parameters (RFC 8420);
//   - id-RSASSA-PSS with a parameters SEQUENCE (A.4): hashAlgorithm
//     (DEFAULT sha1), maskGenAlgorithm which must be mgf1 with the same hash
//     (DEFAULT mgf1SHA1), saltLength (DEFAULT 20) and trailerField which, if
//     present, must be 1. Hash AlgorithmIdentifiers may carry NULL or absent
//     parameters (RFC 4055 §2.1).
//
// SHA-1 forms are recognised (Hash == HashSHA1) so that callers can report
// them precisely; VerifyAuth refuses them. Anything else yields
// ErrUnknownAlgorithmID.
func ParseAlgorithmIdentifier(der []byte) (SigAlg, error) {
	bad := func(why string) (SigAlg, error) {
		return SigAlg{}, fmt.Errorf("%w: %s", ErrUnknownAlgorithmID, why)
	}
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return bad("not a single DER SEQUENCE")
	}
	var oid asn1.ObjectIdentifier
	if !seq.ReadASN1ObjectIdentifier(&oid) {
		return bad("missing OID")
	}
	if h, ok := lookupOID(ecdsaOIDs, oid); ok {
		if !seq.Empty() {
			return bad("ECDSA parameters must be absent")
		}
		return SigAlg{Kind: SigECDSA, Hash: h}, nil
	}
	if h, ok := lookupOID(rsaOIDs, oid); ok {
		if !readNULL(&seq) || !seq.Empty() {
			return bad("PKCS#1 v1.5 parameters must be NULL")
		}
		return SigAlg{Kind: SigRSAPKCS1, Hash: h}, nil
	}
	if oid.Equal(oidEd25519) {
		if !seq.Empty() {
			return bad("Ed25519 parameters must be absent")
		}
		return Ed25519Sig, nil
	}
	if !oid.Equal(oidRSAPSS) {
		return bad("unrecognised OID " + oid.String())
	}
	var params cryptobyte.String
	if !seq.ReadASN1(&params, cbasn1.SEQUENCE) || !seq.Empty() {
		return bad("RSASSA-PSS parameters must be one SEQUENCE")
	}
	alg := SigAlg{Kind: SigRSAPSS, Hash: HashSHA1, SaltLen: pssDefaultSalt}
	mgfHash := HashSHA1
	var f cryptobyte.String
	var present bool
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return bad("bad hashAlgorithm")
	}
	if present {
		h, ok := readHashAlgID(&f)
		if !ok || !f.Empty() {
			return bad("bad hashAlgorithm")
		}
		alg.Hash = h
	}
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return bad("bad maskGenAlgorithm")
	}
	if present {
		var mgf cryptobyte.String
		var moid asn1.ObjectIdentifier
		if !f.ReadASN1(&mgf, cbasn1.SEQUENCE) || !f.Empty() || !mgf.ReadASN1ObjectIdentifier(&moid) || !moid.Equal(oidMGF1) {
			return bad("maskGenAlgorithm is not MGF1")
		}
		h, ok := readHashAlgID(&mgf)
		if !ok || !mgf.Empty() {
			return bad("bad MGF1 hash")
		}
		mgfHash = h
	}
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return bad("bad saltLength")
	}
	if present {
		var salt int64
		if !f.ReadASN1Integer(&salt) || !f.Empty() || salt < 0 || salt > maxPSSSalt {
			return bad("bad saltLength")
		}
		alg.SaltLen = int(salt)
	}
	if !params.ReadOptionalASN1(&f, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return bad("bad trailerField")
	}
	if present {
		var tf int64
		if !f.ReadASN1Integer(&tf) || !f.Empty() || tf != 1 {
			return bad("trailerField must be 1")
		}
	}
	if !params.Empty() {
		return bad("trailing data in RSASSA-PSS parameters")
	}
	if mgfHash != alg.Hash {
		return bad("MGF1 hash differs from message hash")
	}
	return alg, nil
}

func readNULL(s *cryptobyte.String) bool {
	var null cryptobyte.String
	return s.ReadASN1(&null, cbasn1.NULL) && null.Empty()
}

// readHashAlgID reads SEQUENCE { hashOID, NULL OPTIONAL }.
func readHashAlgID(s *cryptobyte.String) (HashAlg, bool) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, false
	}
	h, ok := lookupOID(hashOIDs, oid)
	if !ok {
		return 0, false
	}
	if !seq.Empty() && (!readNULL(&seq) || !seq.Empty()) {
		return 0, false
	}
	return h, true
}

package ikecrypto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"sync"
	"testing"
)

// Cross-checked with an independent computation (Python 3 hmac):
// prf(prf(psk,"Key Pad for IKEv2"), msg | Nr | prf(SK_pi, IDi')).
func TestPSKAuth(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA256)
	msg := bytes.Repeat([]byte{1}, 100)
	nr := bytes.Repeat([]byte{2}, 32)
	skpi := bytes.Repeat([]byte{3}, 32)
	idBody := append([]byte{byte(IDFQDN), 0, 0, 0}, "vault-01.example.net"...)
	psk := []byte("correct horse battery staple")
	octets := SignedOctets(p, msg, nr, skpi, idBody)
	if !bytes.Equal(octets[:132], append(append([]byte{}, msg...), nr...)) || len(octets) != 164 {
		t.Fatal("signed octets layout")
	}
	auth := PSKAuth(p, psk, octets)
	want := unhex(t, "b51292d6b5b17880fbefc69ba9fc63ea83f506923ace75d3480401e54eccba25")
	if !bytes.Equal(auth, want) {
		t.Fatalf("AUTH %x", auth)
	}
	if err := VerifyPSKAuth(p, psk, octets, want); err != nil {
		t.Fatal(err)
	}
	err := VerifyPSKAuth(p, []byte("wrong"), octets, want)
	var ae *AuthError
	if !errors.Is(err, ErrAuthMismatch) || !errors.As(err, &ae) || ae.Method != AuthSharedKeyMIC {
		t.Fatalf("wrong PSK: %v", err)
	}
}

// RFC 7427 Appendix A.
var rfc7427Blobs = map[string]string{
	"A.1 sha1WithRSAEncryption":       "300d06092a864886f70d0101050500",
	"A.1 sha256WithRSAEncryption":     "300d06092a864886f70d01010b0500",
	"A.1 sha384WithRSAEncryption":     "300d06092a864886f70d01010c0500",
	"A.1 sha512WithRSAEncryption":     "300d06092a864886f70d01010d0500",
	"A.3 ecdsa-with-sha1":             "3009 0607 2a8648ce3d0401",
	"A.3 ecdsa-with-sha256":           "300a06082a8648ce3d040302",
	"A.3 ecdsa-with-sha384":           "300a06082a8648ce3d040303",
	"A.3 ecdsa-with-sha512":           "300a06082a8648ce3d040304",
	"A.4.1 RSASSA-PSS empty params":   "300d06092a864886f70d01010a3000",
	"A.4.2 RSASSA-PSS default params": "303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101",
	"A.4.3 RSASSA-PSS sha-256":        "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020101",
}

func TestRFC7427Blobs(t *testing.T) {
	enc := map[string]SigAlg{
		"A.1 sha256WithRSAEncryption": RSAWithSHA256,
		"A.1 sha384WithRSAEncryption": RSAWithSHA384,
		"A.1 sha512WithRSAEncryption": RSAWithSHA512,
		"A.1 sha1WithRSAEncryption":   {Kind: SigRSAPKCS1, Hash: HashSHA1},
		"A.3 ecdsa-with-sha1":         {Kind: SigECDSA, Hash: HashSHA1},
		"A.3 ecdsa-with-sha256":       ECDSAWithSHA256,
		"A.3 ecdsa-with-sha384":       ECDSAWithSHA384,
		"A.3 ecdsa-with-sha512":       ECDSAWithSHA512,
	}
	for name, alg := range enc {
		got, err := alg.AlgorithmIdentifier()
		if err != nil || !bytes.Equal(got, unhex(t, rfc7427Blobs[name])) {
			t.Errorf("%s: encoded %x (%v)", name, got, err)
		}
	}
	parse := map[string]SigAlg{
		"A.4.1 RSASSA-PSS empty params":   {Kind: SigRSAPSS, Hash: HashSHA1, SaltLen: 20},
		"A.4.2 RSASSA-PSS default params": {Kind: SigRSAPSS, Hash: HashSHA1, SaltLen: 20},
		"A.4.3 RSASSA-PSS sha-256":        RSAPSSWithSHA256,
	}
	for name, a := range enc {
		parse[name] = a
	}
	for name, want := range parse {
		got, err := ParseAlgorithmIdentifier(unhex(t, rfc7427Blobs[name]))
		if err != nil || got != want {
			t.Errorf("%s: parsed %v (%v)", name, got, err)
		}
	}
	// Our PSS encoding is the A.4.3 blob in DER, i.e. without the DEFAULT
	// trailerField (what strongSwan sends).
	a43 := unhex(t, rfc7427Blobs["A.4.3 RSASSA-PSS sha-256"])
	der := unhex(t, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120")
	got, _ := RSAPSSWithSHA256.AlgorithmIdentifier()
	if !bytes.Equal(got, der) || !bytes.Equal(got[15:], a43[15:len(a43)-5]) {
		t.Errorf("PSS DER %x", got)
	}
	ed, _ := Ed25519Sig.AlgorithmIdentifier()
	if !bytes.Equal(ed, unhex(t, "300506032b6570")) { // RFC 8420 §2
		t.Errorf("Ed25519 %x", ed)
	}
}

func TestAlgorithmIdentifierStrict(t *testing.T) {
	bad := map[string]string{
		"ecdsa with NULL params":  "300c06082a8648ce3d0403020500",
		"rsa without NULL":        "300b06092a864886f70d01010b",
		"long-form length":        "30810a06082a8648ce3d040302",
		"trailing data":           "300a06082a8648ce3d04030200",
		"inner trailing":          "300b06082a8648ce3d04030200",
		"unknown oid":             "300a06082a8648ce3d040305",
		"pss no params":           "300b06092a864886f70d01010a",
		"pss mgf hash mismatch":   "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020120",
		"pss trailer 2":           "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020102",
		"pss negative salt":       "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a2030201ff",
		"pss fields out of order": "304106092a864886f70d01010a3034a11c301a06092a864886f70d010108300d06096086480165030402010500a00f300d06096086480165030402010500a203020120",
		"empty":                   "",
	}
	for name, h := range bad {
		if a, err := ParseAlgorithmIdentifier(unhex(t, h)); !errors.Is(err, ErrUnknownAlgorithmID) {
			t.Errorf("%s: accepted as %v", name, a)
		}
	}
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func TestSignatureAuthRoundTrip(t *testing.T) {
	octets := []byte("IKE_SA_INIT | Nr | prf(SK_pi, IDi')")
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	rk := testRSAKey(t)
	cases := []struct {
		alg SigAlg
		key crypto.Signer
	}{
		{ECDSAWithSHA256, p256}, {ECDSAWithSHA384, p384}, {ECDSAWithSHA512, p384}, {ECDSAWithSHA384, p256},
		{RSAWithSHA256, rk}, {RSAWithSHA384, rk}, {RSAWithSHA512, rk},
		{RSAPSSWithSHA256, rk}, {RSAPSSWithSHA384, rk}, {RSAPSSWithSHA512, rk},
		{Ed25519Sig, edk},
	}
	for _, c := range cases {
		data, err := SignAuth(AuthDigitalSignature, c.alg, c.key, rand.Reader, octets)
		if err != nil {
			t.Fatalf("%v: %v", c.alg, err)
		}
		alg, algID, sig, err := ParseSignatureAuthData(data)
		want, _ := c.alg.AlgorithmIdentifier()
		if err != nil || alg != c.alg || !bytes.Equal(algID, want) || int(data[0]) != len(want) || len(sig) == 0 {
			t.Fatalf("%v: parse %v %v", c.alg, alg, err)
		}
		if err := VerifyAuth(AuthDigitalSignature, data, c.key.Public(), octets, nil); err != nil {
			t.Fatalf("%v: verify %v", c.alg, err)
		}
		if err := VerifyAuth(AuthDigitalSignature, data, c.key.Public(), append(octets, 0), nil); !errors.Is(err, ErrAuthMismatch) {
			t.Fatalf("%v: altered octets: %v", c.alg, err)
		}
		other := crypto.PublicKey(&p256.PublicKey)
		if c.key == crypto.Signer(p256) {
			other = &p384.PublicKey
		}
		if err := VerifyAuth(AuthDigitalSignature, data, other, octets, nil); err == nil {
			t.Fatalf("%v: verified under wrong key", c.alg)
		}
	}
	// ECDSA signature value must be DER (strongSwan's ECDSA_WITH_SHA384_DER).
	data, _ := SignAuth(AuthDigitalSignature, ECDSAWithSHA384, p384, rand.Reader, octets)
	_, _, sig, _ := ParseSignatureAuthData(data)
	if !ecdsa.VerifyASN1(&p384.PublicKey, digest(crypto.SHA384, octets), sig) {
		t.Fatal("ECDSA signature is not DER over SHA-384")
	}
	// Hash restriction from SIGNATURE_HASH_ALGORITHMS.
	err := VerifyAuth(AuthDigitalSignature, data, &p384.PublicKey, octets, &VerifyOptions{AllowedHashes: []HashAlg{HashSHA256}})
	if !errors.Is(err, ErrWeakAlgorithm) {
		t.Fatalf("hash restriction: %v", err)
	}
	// Key type mismatch.
	if _, err := SignAuth(AuthDigitalSignature, RSAWithSHA256, p256, rand.Reader, octets); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("rsa alg with ec key: %v", err)
	}
	// SHA-1 algorithm identifiers are recognised but refused.
	sha1ID := unhex(t, rfc7427Blobs["A.3 ecdsa-with-sha1"])
	d := sha1.Sum(octets)
	s1, _ := ecdsa.SignASN1(rand.Reader, p256, d[:])
	weak, _ := EncodeSignatureAuthData(sha1ID, s1)
	if err := VerifyAuth(AuthDigitalSignature, weak, &p256.PublicKey, octets, nil); !errors.Is(err, ErrWeakAlgorithm) {
		t.Fatalf("sha1: %v", err)
	}
	for _, m := range [][]byte{nil, {0}, {12, 1, 2}, append([]byte{byte(len(sha1ID))}, sha1ID...)} {
		if err := VerifyAuth(AuthDigitalSignature, m, &p256.PublicKey, octets, nil); !errors.Is(err, ErrMalformedAuth) {
			t.Errorf("malformed %x: %v", m, err)
		}
	}
}

func TestClassicSignatureMethods(t *testing.T) {
	octets := []byte("signed octets")
	for _, c := range []struct {
		m     AuthMethod
		curve elliptic.Curve
		size  int
	}{{AuthECDSASHA256P256, elliptic.P256(), 64}, {AuthECDSASHA384P384, elliptic.P384(), 96}, {AuthECDSASHA512P521, elliptic.P521(), 132}} {
		k, _ := ecdsa.GenerateKey(c.curve, rand.Reader)
		data, err := SignAuth(c.m, SigAlg{}, k, rand.Reader, octets)
		if err != nil || len(data) != c.size {
			t.Fatalf("%v: %d octets, %v", c.m, len(data), err)
		}
		if err := VerifyAuth(c.m, data, &k.PublicKey, octets, nil); err != nil {
			t.Fatalf("%v: %v", c.m, err)
		}
		data[5] ^= 1
		if err := VerifyAuth(c.m, data, &k.PublicKey, octets, nil); !errors.Is(err, ErrAuthMismatch) {
			t.Fatalf("%v tampered: %v", c.m, err)
		}
		if err := VerifyAuth(c.m, data[1:], &k.PublicKey, octets, nil); !errors.Is(err, ErrMalformedAuth) {
			t.Fatalf("%v short: %v", c.m, err)
		}
	}
	k256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := SignAuth(AuthECDSASHA384P384, SigAlg{}, k256, rand.Reader, octets); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("curve mismatch: %v", err)
	}
	// Method 1: verify only, opt-in.
	rk := testRSAKey(t)
	d := sha1.Sum(octets)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA1, d[:])
	if err := VerifyAuth(AuthRSASignature, sig, &rk.PublicKey, octets, nil); !errors.Is(err, ErrWeakAlgorithm) {
		t.Fatalf("method 1 default: %v", err)
	}
	if err := VerifyAuth(AuthRSASignature, sig, &rk.PublicKey, octets, &VerifyOptions{AllowRSASHA1: true}); err != nil {
		t.Fatalf("method 1 allowed: %v", err)
	}
	if _, err := SignAuth(AuthRSASignature, SigAlg{}, rk, rand.Reader, octets); !errors.Is(err, ErrUnsupportedAuthMethod) {
		t.Fatalf("method 1 sign: %v", err)
	}
}

func TestSignatureHashAlgorithmsNotify(t *testing.T) {
	b := EncodeSignatureHashAlgorithms([]HashAlg{HashSHA256, HashSHA384, HashSHA512})
	if !bytes.Equal(b, []byte{0, 2, 0, 3, 0, 4}) {
		t.Fatalf("%x", b)
	}
	hs, err := DecodeSignatureHashAlgorithms(append(b, 0, 99))
	if err != nil || len(hs) != 4 || hs[3] != 99 {
		t.Fatal(hs, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 2, 0}} {
		if _, err := DecodeSignatureHashAlgorithms(bad); !errors.Is(err, ErrMalformedNotify) {
			t.Errorf("%x: %v", bad, err)
		}
	}
	if h, ok := SelectHash([]HashAlg{HashSHA384, HashSHA256}, hs); !ok || h != HashSHA384 {
		t.Fatal(h, ok)
	}
}

func FuzzParseAlgorithmIdentifier(f *testing.F) {
	for _, h := range rfc7427Blobs {
		f.Add(unhex(f, h))
	}
	for _, a := range []SigAlg{RSAPSSWithSHA384, RSAPSSWithSHA512, Ed25519Sig, {Kind: SigRSAPSS, Hash: HashSHA256, SaltLen: 20}} {
		b, _ := a.AlgorithmIdentifier()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAlgorithmIdentifier(b)
		if err != nil {
			return
		}
		if a.Kind == SigRSAPSS && a.Hash == HashSHA1 {
			return // recognised, but we never encode SHA-1 PSS
		}
		enc, err := a.AlgorithmIdentifier()
		if err != nil {
			t.Fatalf("parsed %v but cannot encode: %v", a, err)
		}
		a2, err := ParseAlgorithmIdentifier(enc)
		if err != nil || a2 != a {
			t.Fatalf("round trip %v -> %x -> %v (%v)", a, enc, a2, err)
		}
		if len(enc) > len(b)+5 {
			t.Fatalf("canonical form longer than input")
		}
	})
}

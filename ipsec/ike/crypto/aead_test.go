package ikecrypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16
// (AES-256, 96-bit IV, AAD), mapped onto RFC 5282: the first 4 IV octets are
// the salt taken from the key material, the last 8 the explicit IV.
func TestSKCipherGCMTestCase16(t *testing.T) {
	key := unhex(t, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
	keymat := append(key, unhex(t, "cafebabe")...)
	c, err := NewSKCipher(EncrAESGCM16, keymat)
	if err != nil {
		t.Fatal(err)
	}
	var iv [8]byte
	copy(iv[:], unhex(t, "facedbaddecaf888"))
	pt := unhex(t, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
	aad := unhex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	want := unhex(t, "facedbaddecaf888"+
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"+
		"76fc6ece0f4e1768cddf8853bb2d551b")
	got := c.sealIV(iv, pt, aad)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x", got)
	}
	raw, err := c.openRaw(want, aad)
	if err != nil || !bytes.Equal(raw, pt) {
		t.Fatalf("openRaw: %v", err)
	}
}

func TestSKCipherRoundTrip(t *testing.T) {
	keymat := bytes.Repeat([]byte{7}, 36)
	snd, _ := NewSKCipher(EncrAESGCM16, keymat)
	rcv, _ := NewSKCipher(EncrAESGCM16, keymat)
	if snd.IVSize() != 8 || snd.Overhead() != 16 {
		t.Fatal("sizes")
	}
	aad := []byte("ike header + sk generic header")
	payloads := []byte("inner payload chain")
	var seen [][]byte
	for i := 0; i < 3; i++ {
		s, err := snd.Seal(payloads, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != snd.SealedLen(len(payloads)) {
			t.Fatalf("len %d != SealedLen %d", len(s), snd.SealedLen(len(payloads)))
		}
		if binary.BigEndian.Uint64(s[:8]) != uint64(i) {
			t.Fatalf("IV %x not counter %d", s[:8], i)
		}
		for _, p := range seen {
			if bytes.Equal(p[:8], s[:8]) {
				t.Fatal("IV reused")
			}
		}
		seen = append(seen, s)
		got, err := rcv.Open(s, aad)
		if err != nil || !bytes.Equal(got, payloads) {
			t.Fatalf("open: %v %q", err, got)
		}
	}
	s := seen[0]
	if _, err := rcv.Open(s, []byte("other aad")); !errors.Is(err, ErrSKAuthFailed) {
		t.Errorf("aad tamper: %v", err)
	}
	bad := append([]byte{}, s...)
	bad[10] ^= 1
	if _, err := rcv.Open(bad, aad); !errors.Is(err, ErrSKAuthFailed) {
		t.Errorf("ct tamper: %v", err)
	}
	if _, err := rcv.Open(s[:24], aad); !errors.Is(err, ErrSKTooShort) {
		t.Errorf("short: %v", err)
	}
	// Padding: peer used 3 pad octets; and an impossible pad length.
	var iv [8]byte
	ok := snd.sealIV(iv, append([]byte("abc"), 9, 9, 9, 3), aad)
	if got, err := rcv.Open(ok, aad); err != nil || string(got) != "abc" {
		t.Errorf("padded: %v %q", err, got)
	}
	iv[7] = 1
	badPad := snd.sealIV(iv, []byte{1, 2, 3}, aad)
	if _, err := rcv.Open(badPad, aad); !errors.Is(err, ErrSKBadPadding) {
		t.Errorf("bad pad: %v", err)
	}
	for _, n := range []int{0, 16, 35, 37} {
		if _, err := NewSKCipher(EncrAESGCM16, make([]byte, n)); err == nil {
			t.Errorf("keymat %d accepted", n)
		}
	}
	if _, err := NewSKCipher(12, keymat); !errors.Is(err, ErrUnsupportedEncr) {
		t.Error("AES-CBC accepted")
	}
}

func TestIVCounterExhaustion(t *testing.T) {
	c := IVCounter{next: ^uint64(0)}
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); !errors.Is(err, ErrIVExhausted) {
		t.Fatalf("wrap: %v", err)
	}
}

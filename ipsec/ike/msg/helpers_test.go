package msg

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readHex reads an annotated hex fixture: '#' starts a comment, whitespace
// is ignored.
func readHex(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var sb strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return b
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// gcmAEAD is ENCR_AES_GCM_16 per RFC 5282 built from the standard library,
// standing in for ipsec/ike/crypto's implementation.
type gcmAEAD struct {
	aead      cipher.AEAD
	salt      [4]byte
	blockSize int // 0: do not implement BlockSizer semantics
}

func newGCM(tb testing.TB, key, salt []byte) *gcmAEAD {
	tb.Helper()
	blk, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		tb.Fatal(err)
	}
	return &gcmAEAD{aead: a, salt: [4]byte(salt)}
}

func (g *gcmAEAD) IVSize() int   { return 8 }
func (g *gcmAEAD) Overhead() int { return 16 }
func (g *gcmAEAD) nonce(iv []byte) []byte {
	n := make([]byte, 0, 12)
	return append(append(n, g.salt[:]...), iv...)
}
func (g *gcmAEAD) Seal(dst, iv, pt, aad []byte) []byte {
	return g.aead.Seal(dst, g.nonce(iv), pt, aad)
}
func (g *gcmAEAD) Open(dst, iv, ct, aad []byte) ([]byte, error) {
	return g.aead.Open(dst, g.nonce(iv), ct, aad)
}

// blockGCM is gcmAEAD that asks for padding to a block size.
type blockGCM struct {
	*gcmAEAD
	bs int
}

func (b blockGCM) BlockSize() int { return b.bs }

// fixtureKey is SK_ei of the IKE_AUTH fixture (see testdata/gen_fixtures.py).
func fixtureAEAD(tb testing.TB) *gcmAEAD {
	key := make([]byte, 32)
	for i := range key {
		key[i] = 0x40 + byte(i)
	}
	return newGCM(tb, key, []byte{0xa1, 0xb2, 0xc3, 0xd4})
}

// decodedCost is a structural bound on what a decoded chain holds: octets
// in byte slices plus 4 per decoded object. Every object is backed by at
// least 4 octets of input and byte slices alias distinct input octets, so
// it must not exceed the input length.
func decodedCost(ps []Payload) int {
	n := 0
	for _, p := range ps {
		n += 4
		switch p := p.(type) {
		case *SA:
			for _, pr := range p.Proposals {
				n += 4 + len(pr.SPI)
				for _, t := range pr.Transforms {
					n += 4
					for _, a := range t.Attributes {
						n += 4 + len(a.Value)
					}
				}
			}
		case *KE:
			n += len(p.Data)
		case *ID:
			n += len(p.Data)
		case *Cert:
			n += len(p.Data)
		case *CertReq:
			n += len(p.Data)
		case *Auth:
			n += len(p.Data)
		case *Nonce:
			n += len(p.Data)
		case *Notify:
			n += len(p.SPI) + len(p.Data)
		case *Delete:
			n += 4 * len(p.SPIs)
		case *VendorID:
			n += len(p.Data)
		case *TS:
			for _, s := range p.Selectors {
				n += 4 + len(s.Data)
			}
		case *EAP:
			n += len(p.Data)
		case *Encrypted:
			n += len(p.Body)
		case *Fragment:
			n += len(p.Body)
		case *Unknown:
			n += len(p.Data)
		}
	}
	return n
}

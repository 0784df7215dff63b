package fingerprint

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Keyed-hash vectors from the BLAKE3 reference test_vectors.json: key is
// "whats the Elvish word for friend", input byte i is i % 251, and the
// 256-bit output is the first 32 bytes of the extended output.
var vectors = []struct {
	n    int
	want string
}{
	{0, "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"},
	{1, "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b"},
	{1024, "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4"},
	{8193, "954a2a75420c8d6547e3ba5b98d963e6fa6491addc8c023189cc519821b4a1f5"},
	{31744, "efa53b389ab67c593dba624d898d0f7353ab99e4ac9d42302ee64cbf9939a419"},
}

func vectorInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestSumVectors(t *testing.T) {
	h, err := New([]byte("whats the Elvish word for friend"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		// Twice: the second Sum uses a pooled, reset hasher.
		for range 2 {
			if got := h.Sum(vectorInput(v.n)).String(); got != v.want {
				t.Errorf("Sum(%d bytes) = %s, want %s", v.n, got, v.want)
			}
		}
	}
}

func TestKeyMatters(t *testing.T) {
	a, _ := New(make([]byte, 32))
	k := make([]byte, 32)
	k[31] = 1
	b, _ := New(k)
	if a.Sum([]byte("x")) == b.Sum([]byte("x")) {
		t.Fatal("different keys gave the same ID")
	}
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("New(%d-byte key) error = %v, want ErrKeySize", n, err)
		}
	}
}

func TestConcurrentSum(t *testing.T) {
	h, _ := New([]byte("whats the Elvish word for friend"))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := vectors[(g+i)%len(vectors)]
				if got := h.Sum(vectorInput(v.n)).String(); got != v.want {
					t.Errorf("concurrent Sum(%d) = %s", v.n, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHasherDoesNotPrintKey(t *testing.T) {
	key := []byte("SECRETKEYSECRETKEYSECRETKEY12345")
	h, _ := New(key)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(format, h)
		if strings.Contains(s, "SECRET") || strings.Contains(s, fmt.Sprint(key[:4])) || strings.Contains(s, "%x") {
			t.Errorf("%s of Hasher = %q shows the key", format, s)
		}
	}
}

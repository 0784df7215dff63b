package keys

import (
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestRecoveryKeyText(t *testing.T) {
	rk, err := NewRecoveryKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := rk.Reveal()
	if !regexp.MustCompile(`^([0-9A-HJKMNP-TV-Z]{4}-){13}[0-9A-HJKMNP-TV-Z]{4}$`).MatchString(s) {
		t.Fatalf("Reveal() = %q, want 14 groups of 4 Crockford base32 characters", s)
	}
	variants := []string{
		s,
		strings.ToLower(s),
		strings.ReplaceAll(s, "-", " "),
		strings.ReplaceAll(s, "-", ""),
		"  " + strings.ReplaceAll(s, "-", "\n") + "\n",
		strings.NewReplacer("0", "O", "1", "l").Replace(s), // misread digits
	}
	for _, v := range variants {
		got, err := ParseRecoveryKey(v)
		if err != nil {
			t.Fatalf("ParseRecoveryKey(%q): %v", v, err)
		}
		if !got.k.Equal(rk.k) {
			t.Fatalf("ParseRecoveryKey(%q) gave another key", v)
		}
	}
}

func TestRecoveryKeyTypos(t *testing.T) {
	rk, _ := NewRecoveryKey(rand.Reader)
	s := rk.Reveal()
	typo := []byte(s)
	for i, c := range typo { // change the first non-dash character
		if c != '-' {
			typo[i] = "XY"[map[bool]int{true: 1, false: 0}[c == 'X']]
			break
		}
	}
	tests := []string{
		string(typo),
		s[:len(s)-5], // missing group
		s + "-AAAA",  // extra group
		"",
		strings.Replace(s, s[:1], "U", 1), // U is not in the alphabet
		"hello",
	}
	for _, in := range tests {
		_, err := ParseRecoveryKey(in)
		if !errors.Is(err, ErrRecoveryKeyFormat) {
			t.Errorf("ParseRecoveryKey(%q): %v, want ErrRecoveryKeyFormat", in, err)
			continue
		}
		if len(in) > 8 && strings.Contains(err.Error(), in[:8]) {
			t.Errorf("error %q quotes the input", err)
		}
	}
}

func FuzzParseRecoveryKey(f *testing.F) {
	rk, _ := NewRecoveryKey(rand.Reader)
	f.Add(rk.Reveal())
	f.Add("0000-1111")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecoveryKey(s)
		if err != nil {
			return
		}
		back, err := ParseRecoveryKey(r.Reveal())
		if err != nil || !back.k.Equal(r.k) {
			t.Fatalf("Reveal of a parsed key does not parse back: %v", err)
		}
	})
}

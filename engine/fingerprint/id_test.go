package fingerprint

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	valid := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		in string
		ok bool
	}{
		{valid, true},
		{strings.ToUpper(valid), true},
		{strings.Repeat("0", 64), true},
		{"", false},
		{valid[:63], false},
		{valid + "0", false},
		{strings.Repeat("g", 64), false},
		{" " + valid[1:], false},
	}
	for _, tt := range tests {
		id, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Errorf("Parse(%q) error %v does not wrap ErrParse", tt.in, err)
			}
			continue
		}
		if id.String() != strings.ToLower(tt.in) {
			t.Errorf("Parse(%q).String() = %q", tt.in, id.String())
		}
	}
}

func TestJSON(t *testing.T) {
	h, _ := New(make([]byte, 32))
	in := map[string]ID{"a": h.Sum([]byte("a"))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]ID
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out["a"] != in["a"] {
		t.Fatalf("round trip %v != %v", out["a"], in["a"])
	}
	if err := json.Unmarshal([]byte(`{"a":"zz"}`), &out); !errors.Is(err, ErrParse) {
		t.Errorf("bad JSON ID error = %v, want ErrParse", err)
	}
	if id := in["a"]; id.Short() != id.String()[:8] || id.IsZero() || !(ID{}).IsZero() {
		t.Error("Short/IsZero wrong")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("xyz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("Parse(%q).String() = %q", s, id.String())
		}
		if back, err := Parse(id.String()); err != nil || back != id {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
	})
}

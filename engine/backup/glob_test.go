package backup

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pat   string
		path  string
		dir   bool
		match bool
	}{
		// Unanchored: a name at any depth.
		{"*.log", "/var/log/syslog.log", false, true},
		{"*.log", "/a.log", false, true},
		{"*.log", "/var/log", true, false},
		{"*.log", "/x.log/y", false, false}, // the item itself must match; an excluded dir is not descended into
		{"core", "/home/u/core", false, true},
		{"core", "/home/u/core2", false, false},
		// Anchored with a leading "/", or by a "/" in the middle.
		{"/proc", "/proc", true, true},
		{"/proc", "/x/proc", true, false},
		{"/proc/*", "/proc/1", true, true},
		{"/proc/*", "/proc", true, false},
		{"/proc/*", "/proc/1/fd", true, false},
		{"var/cache", "/var/cache", true, true},
		{"var/cache", "/x/var/cache", true, false},
		// "?" and classes.
		{"/dev/sd?", "/dev/sda", false, true},
		{"/dev/sd?", "/dev/sda1", false, false},
		{"/dev/sd[a-c]", "/dev/sdb", false, true},
		{"/dev/sd[a-c]", "/dev/sdd", false, false},
		{"/dev/sd[!a-c]", "/dev/sdd", false, true},
		{"/dev/sd[^a-c]", "/dev/sda", false, false},
		{"[]]x", "/]x", false, true},
		{`\*`, "/*", false, true},
		{`\*`, "/a", false, false},
		{"*", "/any/thing", false, true},
		{"?", "/é", false, true},
		// "**".
		{"**/node_modules", "/a/b/node_modules", true, true},
		{"**/node_modules", "/node_modules", true, true},
		{"/home/**/.cache", "/home/.cache", true, true},
		{"/home/**/.cache", "/home/u/x/.cache", true, true},
		{"/home/**/.cache", "/srv/.cache", true, false},
		{"/srv/**", "/srv", true, false},
		{"/srv/**", "/srv/a", false, true},
		{"/srv/**", "/srv/a/b/c", false, true},
		{"/a/**/**/b", "/a/b", false, true},
		{"a**b", "/axxb", false, true},
		{"a**b", "/ax/xb", false, false},
		// Directory-only.
		{"lost+found/", "/lost+found", true, true},
		{"lost+found/", "/mnt/d/lost+found", true, true},
		{"lost+found/", "/lost+found", false, false},
		{"/tmp/", "/tmp", true, true},
	}
	for _, tc := range tests {
		p, err := CompilePattern(tc.pat)
		if err != nil {
			t.Fatalf("%q: %v", tc.pat, err)
		}
		if got := p.Match(tc.path, tc.dir); got != tc.match {
			t.Errorf("%q.Match(%q, dir=%v) = %v, want %v", tc.pat, tc.path, tc.dir, got, tc.match)
		}
	}
}

func TestPatternRejects(t *testing.T) {
	for _, p := range []string{"", "/", "//", "a//b", "[abc", `a\`, "x/[", strings.Repeat("a", MaxPatternLen+1), "\xff"} {
		if _, err := CompilePattern(p); !errors.Is(err, ErrPattern) {
			t.Errorf("%q compiled (%v)", p, err)
		}
	}
}

// TestFilter: excludes win unless an include re-includes; presets add
// their patterns; an unknown preset is an error.
func TestFilter(t *testing.T) {
	f, err := newFilter([]string{"*.tmp", "/data/*"}, []string{"keep.tmp", "/data/important"}, []string{PresetSystem})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		dir, out bool
	}{
		{"/a/b.tmp", false, true},
		{"/a/keep.tmp", false, false},
		{"/data/x", false, true},
		{"/data/important", true, false},
		{"/data", true, false},
		{"/proc/1", true, true},
		{"/proc", true, false},
		{"/swapfile", false, true},
		{"/srv/lost+found", true, true},
		{"/home/u/.cache/x", false, true},
		{"/home/u/.cache", true, false},
		{"/etc/passwd", false, false},
	} {
		if got := f.excluded(tc.path, tc.dir); got != tc.out {
			t.Errorf("excluded(%q) = %v, want %v", tc.path, got, tc.out)
		}
	}
	if _, err := newFilter(nil, nil, []string{"nope"}); err == nil {
		t.Error("unknown preset accepted")
	}
	if f, err := newFilter(nil, []string{"x"}, nil); err != nil || f != nil || f.excluded("/x", false) {
		t.Errorf("no excludes: %v %v", f, err)
	}
}

// FuzzPattern: any pattern compiles or fails with ErrPattern, matching
// never panics, and on patterns of letters, "*" and "?" against one name
// it agrees with path.Match (the oracle).
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"*.log", "/proc/*", "**/a/**/b", "[!a-z]?", `\[x`, "lost+found/", "a**b"} {
		f.Add(s, "/var/log/a.log", true)
	}
	f.Fuzz(func(t *testing.T, pat, name string, dir bool) {
		p, err := CompilePattern(pat)
		if err != nil {
			if !errors.Is(err, ErrPattern) {
				t.Fatalf("error without ErrPattern: %v", err)
			}
			return
		}
		p.Match(name, dir)
		if strings.ContainsAny(pat, `/[\`) || strings.Contains(pat, "**") || strings.ContainsAny(name, "/") || name == "" {
			return
		}
		want, err := path.Match(pat, name)
		if err != nil {
			return
		}
		if got := p.Match(name, false); got != want {
			t.Fatalf("%q.Match(%q) = %v, path.Match says %v", pat, name, got, want)
		}
	})
}

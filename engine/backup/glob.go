package backup

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrPattern is returned (wrapped) for a glob pattern that does not
// compile.
var ErrPattern = errors.New("invalid pattern")

// MaxPatternLen bounds a pattern's length in bytes.
const MaxPatternLen = 4096

// Pattern is a compiled gitignore-like glob (see the package doc for the
// syntax). It is immutable and safe for concurrent use.
type Pattern struct {
	src      string
	segs     []segment
	anchored bool // matched from the root (a leading or middle "/")
	dirOnly  bool // a trailing "/": matches directories only
}

// segment is one path element of a pattern: a glob over a name, or "**".
type segment struct {
	glob string
	any  bool // "**": any number of elements
	plus bool // a trailing "/**": at least one element
}

// CompilePattern compiles a gitignore-like glob: "*" matches any run of
// characters but "/", "?" one character but "/", "[...]" one character of
// a class ("[!...]" or "[^...]" negated, "a-z" ranges, "\" escapes), "\x"
// the character x. "**" as a whole element matches any number of elements:
// a leading "**/" any directory depth, "a/**/b" zero or more directories
// between, a trailing "/**" everything inside (not the directory itself);
// "**" elsewhere in an element is "*". A leading "/" anchors the pattern at
// the root, and so does a "/" in the middle; a pattern without one matches
// a name at any depth. A trailing "/" matches directories only.
func CompilePattern(p string) (*Pattern, error) {
	if len(p) > MaxPatternLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrPattern, len(p))
	}
	if !utf8.ValidString(p) {
		return nil, fmt.Errorf("%w: %q is not UTF-8", ErrPattern, p)
	}
	pat := &Pattern{src: p}
	s := p
	if strings.HasSuffix(s, "/") {
		pat.dirOnly = true
		s = strings.TrimSuffix(s, "/")
	}
	if strings.HasPrefix(s, "/") {
		pat.anchored = true
		s = s[1:]
	}
	if s == "" {
		return nil, fmt.Errorf("%w: %q matches nothing", ErrPattern, p)
	}
	if strings.Contains(s, "/") {
		pat.anchored = true
	}
	elems := strings.Split(s, "/")
	if !pat.anchored {
		pat.segs = append(pat.segs, segment{any: true})
	}
	for _, e := range elems {
		if e == "" {
			return nil, fmt.Errorf("%w: %q has an empty element", ErrPattern, p)
		}
		if e == "**" {
			if k := len(pat.segs); k > 0 && pat.segs[k-1].any {
				continue // "**/**" is "**"
			}
			pat.segs = append(pat.segs, segment{any: true})
			continue
		}
		if err := checkGlob(e); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrPattern, p, err)
		}
		pat.segs = append(pat.segs, segment{glob: e})
	}
	if k := len(pat.segs); elems[len(elems)-1] == "**" && k > 1 {
		pat.segs[k-1].plus = true
	}
	return pat, nil
}

// String returns the pattern as given.
func (p *Pattern) String() string { return p.src }

// Match reports whether the slash-separated path (absolute, or relative to
// the root the pattern is anchored at; a leading "/" is ignored) matches.
// isDir says whether it names a directory (for patterns ending in "/").
func (p *Pattern) Match(path string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	path = strings.Trim(path, "/")
	if path == "" {
		return false
	}
	return matchSegs(p.segs, strings.Split(path, "/"))
}

// matchSegs matches pattern elements against path elements by dynamic
// programming (O(len(segs) × len(names)) element matches, whatever the
// number of "**"): row i of m says which suffixes of names segs[i:]
// matches.
func matchSegs(segs []segment, names []string) bool {
	n := len(names)
	next := make([]bool, n+1) // segs[i+1:] against names[j:]
	cur := make([]bool, n+1)
	next[n] = true
	for i := len(segs) - 1; i >= 0; i-- {
		sg := segs[i]
		cur[n] = sg.any && !sg.plus && next[n]
		for j := n - 1; j >= 0; j-- {
			switch {
			case sg.any && sg.plus:
				cur[j] = next[j+1] || cur[j+1]
			case sg.any:
				cur[j] = next[j] || cur[j+1]
			default:
				cur[j] = next[j+1] && matchGlob(sg.glob, names[j])
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// checkGlob validates one element's glob: classes closed, no trailing
// backslash.
func checkGlob(g string) error {
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			if i+1 >= len(g) {
				return errors.New("trailing backslash")
			}
			i++
		case '[':
			end, ok := classEnd(g, i)
			if !ok {
				return errors.New("unterminated [")
			}
			i = end
		}
	}
	return nil
}

// classEnd returns the index of the "]" closing the class that starts at
// g[i] == '['. A "]" right after "[" (or "[!", "[^") is a member.
func classEnd(g string, i int) (int, bool) {
	j := i + 1
	if j < len(g) && (g[j] == '!' || g[j] == '^') {
		j++
	}
	if j < len(g) && g[j] == ']' {
		j++
	}
	for ; j < len(g); j++ {
		switch g[j] {
		case '\\':
			j++
		case ']':
			return j, true
		}
	}
	return 0, false
}

// matchGlob matches one validated element glob against a name (no "/"
// in either): the classic wildcard algorithm, backtracking only to the
// last "*", so O(len(g) × len(name)).
func matchGlob(g, name string) bool {
	gi, ni := 0, 0
	star, starNi := -1, 0
	for ni < len(name) {
		if gi < len(g) {
			switch c := g[gi]; c {
			case '*':
				for gi < len(g) && g[gi] == '*' {
					gi++
				}
				star, starNi = gi, ni
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(name[ni:])
				gi, ni = gi+1, ni+w
				continue
			case '[':
				end, _ := classEnd(g, gi)
				r, w := utf8.DecodeRuneInString(name[ni:])
				if matchClass(g[gi+1:end], r) {
					gi, ni = end+1, ni+w
					continue
				}
			default:
				lit, lw := c, 1
				if c == '\\' {
					lit = g[gi+1]
					lw = 2
				}
				if name[ni] == lit {
					gi, ni = gi+lw, ni+1
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(name[starNi:])
		starNi += w
		gi, ni = star, starNi
	}
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}

// matchClass reports whether r is in the class body (between "[" and
// "]").
func matchClass(body string, r rune) bool {
	neg := false
	if body != "" && (body[0] == '!' || body[0] == '^') {
		neg, body = true, body[1:]
	}
	in := false
	for body != "" {
		lo, w := classRune(body)
		body = body[w:]
		hi := lo
		if len(body) >= 2 && body[0] == '-' {
			hi, w = classRune(body[1:])
			body = body[1+w:]
		}
		if lo <= r && r <= hi {
			in = true
		}
	}
	return in != neg
}

// classRune decodes one (possibly escaped) rune of a class body.
func classRune(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, w := utf8.DecodeRuneInString(s[1:])
		return r, 1 + w
	}
	r, w := utf8.DecodeRuneInString(s)
	return r, w
}

// filter is a backup's compiled include and exclude patterns.
type filter struct {
	exclude, include []*Pattern
}

// PresetSystem names the system exclusions (Options.Presets): pseudo and
// volatile filesystems' contents, swap files, lost+found and caches.
const PresetSystem = "system"

// Preset returns the patterns of a named exclusion preset.
func Preset(name string) ([]string, error) {
	switch name {
	case PresetSystem:
		return []string{
			// Contents of pseudo and volatile filesystems; the mount
			// points themselves are kept so a restore recreates them.
			"/proc/*", "/sys/*", "/dev/*", "/run/*", "/tmp/*", "/var/tmp/*", "/var/run/*", "/var/lock/*",
			// Swap and hibernation files.
			"/swapfile", "/swap.img", "/swap", "/pagefile.sys", "/hiberfil.sys", "/swapfile.sys",
			// fsck's directory, at any depth (one per filesystem).
			"lost+found/",
			// Caches and trash.
			"/var/cache/*", "/home/*/.cache/*", "/root/.cache/*", "/var/lib/systemd/coredump/*",
			"/home/*/.local/share/Trash/*", "/root/.local/share/Trash/*",
		}, nil
	}
	return nil, fmt.Errorf("backup: unknown exclusion preset %q", name)
}

// newFilter compiles exclude (with the presets' patterns) and include;
// nil when there is nothing to exclude.
func newFilter(exclude, include, presets []string) (*filter, error) {
	ex := slices.Clone(exclude)
	for _, name := range presets {
		p, err := Preset(name)
		if err != nil {
			return nil, err
		}
		ex = append(ex, p...)
	}
	if len(ex) == 0 {
		return nil, nil
	}
	f := &filter{}
	for _, s := range ex {
		p, err := CompilePattern(s)
		if err != nil {
			return nil, fmt.Errorf("backup: exclude: %w", err)
		}
		f.exclude = append(f.exclude, p)
	}
	for _, s := range include {
		p, err := CompilePattern(s)
		if err != nil {
			return nil, fmt.Errorf("backup: include: %w", err)
		}
		f.include = append(f.include, p)
	}
	return f, nil
}

// excluded reports whether path is left out: an exclude pattern matches
// it and no include pattern does.
func (f *filter) excluded(path string, isDir bool) bool {
	if f == nil {
		return false
	}
	for _, ex := range f.exclude {
		if ex.Match(path, isDir) {
			for _, in := range f.include {
				if in.Match(path, isDir) {
					return false
				}
			}
			return true
		}
	}
	return false
}

package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Module is one kernel module known to a DB.
type Module struct {
	// Name is the normalized module name ("md_mod").
	Name string
	// Path is the module file relative to the modules directory
	// ("kernel/drivers/md/md-mod.ko"); empty for a built-in module.
	Path string
	// Builtin is true for modules compiled into the kernel (modules.builtin).
	Builtin bool
	// Deps are the hard dependencies from modules.dep, in file order (which
	// is the reverse of load order).
	Deps []string

	depPaths []string // Deps as written in modules.dep, for re-encoding
}

// Alias maps a modalias pattern (fnmatch syntax) to a module.
type Alias struct {
	Pattern string
	Module  string

	match string // normalized pattern with '/' made ordinary, see matchKey
	glob  bool   // pattern has wildcard characters
}

// Softdep is a soft dependency: Pre are loaded before Module, Post after.
// Entries are module names or aliases; ones that resolve to nothing are ignored.
type Softdep struct {
	Module string
	Pre    []string
	Post   []string
}

// lines calls fn for every non-blank, non-comment line with its 1-based number.
func lines(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// parseDep parses modules.dep: "path: dep-path dep-path ...".
func parseDep(data []byte) ([]*Module, error) {
	var mods []*Module
	err := lines(data, func(_ int, line string) error {
		p, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("missing ':' in %q", line)
		}
		p = strings.TrimSpace(p)
		name, err := NameFromPath(p)
		if err != nil {
			return err
		}
		m := &Module{Name: name, Path: p}
		for _, d := range strings.Fields(deps) {
			dn, err := NameFromPath(d)
			if err != nil {
				return fmt.Errorf("dependency of %s: %w", name, err)
			}
			m.Deps = append(m.Deps, dn)
			m.depPaths = append(m.depPaths, d)
		}
		mods = append(mods, m)
		return nil
	})
	return mods, err
}

// parseAlias parses modules.alias: "alias <pattern> <module>".
func parseAlias(data []byte) ([]Alias, error) {
	var out []Alias
	err := lines(data, func(_ int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("want \"alias <pattern> <module>\", got %q", line)
		}
		out = append(out, newAlias(f[1], f[2]))
		return nil
	})
	return out, err
}

func newAlias(pattern, module string) Alias {
	key := matchKey(pattern)
	return Alias{
		Pattern: pattern,
		Module:  NormalizeName(module),
		match:   key,
		glob:    strings.ContainsAny(key, `*?[\`),
	}
}

// parseSoftdep parses modules.softdep: "softdep <module> [pre: a b] [post: c]".
// Words before any "pre:" or "post:" are ignored, as modprobe does. Several
// lines for one module accumulate.
func parseSoftdep(data []byte) ([]Softdep, error) {
	var out []Softdep
	index := map[string]int{}
	err := lines(data, func(_ int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("want \"softdep <module> pre: ... post: ...\", got %q", line)
		}
		var pre, post []string
		var into *[]string
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				into = &pre
			case "post:":
				into = &post
			default:
				if into != nil {
					*into = append(*into, w)
				}
			}
		}
		if len(pre) == 0 && len(post) == 0 {
			return nil
		}
		name := NormalizeName(f[1])
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, Softdep{Module: name})
		}
		out[i].Pre = append(out[i].Pre, pre...)
		out[i].Post = append(out[i].Post, post...)
		return nil
	})
	return out, err
}

// parseBuiltin parses modules.builtin: one module path per line.
func parseBuiltin(data []byte) ([]string, error) {
	var out []string
	err := lines(data, func(_ int, line string) error {
		if strings.ContainsAny(line, " \t") {
			return fmt.Errorf("want one module path, got %q", line)
		}
		if _, err := NameFromPath(line); err != nil {
			return err
		}
		out = append(out, line)
		return nil
	})
	return out, err
}

// parseBuiltinModinfo extracts the aliases of built-in modules from
// modules.builtin.modinfo: NUL-separated "module.key=value" records.
func parseBuiltinModinfo(data []byte) ([]Alias, error) {
	var out []Alias
	for i, rec := range bytes.Split(data, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		mod, kv, ok := bytes.Cut(rec, []byte("."))
		key, val, ok2 := bytes.Cut(kv, []byte("="))
		if !ok || !ok2 || len(mod) == 0 {
			return nil, fmt.Errorf("record %d: want module.key=value, got %q", i+1, rec)
		}
		if string(key) != "alias" || len(val) == 0 {
			continue
		}
		out = append(out, newAlias(string(val), string(mod)))
	}
	return out, nil
}

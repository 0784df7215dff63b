package kmod

import (
	"fmt"
	"path"
	"strings"
)

// moduleSuffixes are the file name endings of a kernel module, longest first.
var moduleSuffixes = [...]string{".ko.zst", ".ko.xz", ".ko.gz", ".ko"}

// NormalizeName returns the canonical form of a module name: the kernel
// treats '-' and '_' in module names as the same character and reports '_'.
func NormalizeName(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// NameFromPath returns the module name of a module file path such as
// "kernel/drivers/md/md-mod.ko" ("md_mod"). It fails if the base name does not
// end in .ko, .ko.xz, .ko.zst or .ko.gz.
func NameFromPath(p string) (string, error) {
	base := path.Base(p)
	for _, s := range moduleSuffixes {
		if name, ok := strings.CutSuffix(base, s); ok && name != "" {
			return NormalizeName(name), nil
		}
	}
	return "", fmt.Errorf("%q is not a kernel module path (want *.ko, *.ko.xz, *.ko.zst or *.ko.gz)", p)
}

// normalizeAlias applies modprobe's alias normalization: '-' becomes '_'
// except inside a bracket expression, where '-' is a range.
func normalizeAlias(alias string) string {
	if !strings.Contains(alias, "-") {
		return alias
	}
	b := []byte(alias)
	inBracket := false
	for i, c := range b {
		switch {
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case c == '-' && !inBracket:
			b[i] = '_'
		}
	}
	return string(b)
}

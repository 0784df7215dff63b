package kmod

import (
	"path"
	"strings"
)

// slashStandIn replaces '/' before matching: fnmatch(3) without FNM_PATHNAME,
// which modprobe uses, lets '*' and '?' match '/', path.Match does not.
const slashStandIn = "\x00"

// matchKey turns an alias or alias pattern into the form matched with
// path.Match: modprobe-normalized, '/' neutralized, and the POSIX bracket
// negation "[!" spelled the way path.Match wants it ("[^").
func matchKey(s string) string {
	s = normalizeAlias(s)
	s = strings.ReplaceAll(s, "/", slashStandIn)
	return strings.ReplaceAll(s, "[!", "[^")
}

// matches reports whether the alias pattern matches key (a matchKey result).
// A malformed pattern matches nothing.
func (a Alias) matches(key string) bool {
	if !a.glob {
		return a.match == key
	}
	ok, err := path.Match(a.match, key)
	return err == nil && ok
}

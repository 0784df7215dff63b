package kmod

import "strings"

// ParseList parses a module list file (the image's /etc/keep/modules): one
// module name per line; blank lines and lines starting with '#' are skipped.
func ParseList(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, NormalizeName(line))
	}
	return out
}

// FormatList is the inverse of ParseList.
func FormatList(names []string) []byte {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	return []byte(b.String())
}

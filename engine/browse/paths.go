package browse

import (
	"path"
	"strings"

	"keep/engine/snapshot"
)

// SnapPath maps a path given on a command line to a path inside snap:
// an absolute path under one of the snapshot's backed-up paths is mapped
// to its node ("/srv/www/x" of path "/srv/www" is "www/x"); anything
// else is taken as a path from the snapshot's root, as ls prints them.
func SnapPath(snap *snapshot.Snapshot, p string) string {
	if p == "" || p == "/" {
		return ""
	}
	if strings.HasPrefix(p, "/") {
		// The most specific backed-up path that covers p wins.
		clean := path.Clean(p)
		best, bestLen := "", -1
		for _, sp := range snap.Paths {
			if strings.HasPrefix(sp, "stream:") {
				continue
			}
			prefix := strings.TrimSuffix(sp, "/") + "/"
			switch {
			case clean == sp && len(sp) > bestLen:
				best, bestLen = RootName(sp), len(sp)
			case strings.HasPrefix(clean, prefix) && len(sp) > bestLen:
				best, bestLen = RootName(sp)+"/"+strings.TrimPrefix(clean, prefix), len(sp)
			}
		}
		if bestLen >= 0 {
			return best
		}
	}
	return strings.Trim(path.Clean("/"+p), "/")
}

// RootName is the name of a backed-up path's node in the root tree (as
// engine/backup names it).
func RootName(abs string) string {
	if abs == "/" {
		return "root"
	}
	return path.Base(abs)
}

// OrigPath is where the snapshot path sub ("www/x") was backed up from
// ("/srv/www/x"), or "" for a stream or an unknown root name.
func OrigPath(snap *snapshot.Snapshot, sub string) string {
	first, rest, _ := strings.Cut(sub, "/")
	for _, sp := range snap.Paths {
		if strings.HasPrefix(sp, "stream:") || RootName(sp) != first {
			continue
		}
		if rest == "" {
			return sp
		}
		return path.Join(sp, rest)
	}
	return ""
}

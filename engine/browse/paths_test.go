package browse

import (
	"testing"

	"keep/engine/snapshot"
)

// TestSnapPath: command-line paths to snapshot paths and back.
func TestSnapPath(t *testing.T) {
	s := &snapshot.Snapshot{Paths: []string{"/srv/www", "/", "/etc", "stream:db.sql"}}
	for in, want := range map[string]string{
		"/srv/www":            "www",
		"/srv/www/a/b.html":   "www/a/b.html",
		"/srv/www/":           "www",
		"www/a":               "www/a",
		"/www/a":              "root/www/a", // "/" was backed up: an original path
		"/etc/passwd":         "etc/passwd",
		"/":                   "",
		"":                    "",
		"db.sql":              "db.sql",
		"/srv/www2/x":         "root/srv/www2/x", // under "/" (backed up as "root")
		"/srv/../srv/www/x/.": "www/x",
	} {
		if got := SnapPath(s, in); got != want {
			t.Errorf("SnapPath(%q) = %q, want %q", in, got, want)
		}
	}
	for sub, want := range map[string]string{"www": "/srv/www", "www/a": "/srv/www/a", "root/etc": "/etc", "db.sql": "", "nope": ""} {
		if got := OrigPath(s, sub); got != want {
			t.Errorf("OrigPath(%q) = %q, want %q", sub, got, want)
		}
	}
}

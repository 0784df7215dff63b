package main

import (
	"bytes"
	"context"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"keep/engine/browse"
	"keep/engine/fingerprint"
	"keep/engine/snapshot"
	"keep/engine/tree"
	"keep/internal/gctune"
)

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		tgt  string
		ex   []string
	}{
		{[]string{"latest", "a", "--target", "/t", "b"}, []string{"latest", "a", "b"}, "/t", nil},
		{[]string{"--exclude", "*.o", "x", "--exclude=*.tmp", "y"}, []string{"x", "y"}, "", []string{"*.o", "*.tmp"}},
		{[]string{"x", "--", "--target", "-y"}, []string{"x", "--target", "-y"}, "", nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		tgt := fs.String("target", "", "")
		var ex strList
		fs.Var(&ex, "exclude", "")
		pos, err := parse(fs, tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pos, tc.pos) || *tgt != tc.tgt || !slices.Equal(ex, tc.ex) {
			t.Errorf("%q: pos %q target %q exclude %q", tc.args, pos, *tgt, ex)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	if _, err := parse(fs, []string{"--nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag: %v", err)
	}
}

func snapWithID(b byte, paths ...string) *snapshot.Snapshot {
	var id fingerprint.ID
	id[0], id[1] = b, 0x11
	return &snapshot.Snapshot{ID: id, Paths: paths}
}

func TestResolve(t *testing.T) {
	snaps := []*snapshot.Snapshot{snapWithID(0xab), snapWithID(0xac), snapWithID(0x12)}
	for spec, want := range map[string]int{"latest": 2, "ab": 0, "AB11": 0, "12": 2, "ac1100": 1} {
		s, err := resolve(snaps, spec, whose{mine: true})
		if err != nil || s != snaps[want] {
			t.Errorf("resolve %q: %v, %v", spec, s, err)
		}
	}
	for spec, msg := range map[string]string{"a": "ambiguous", "ff": "no snapshot", "xyz": "prefix of a snapshot ID", "": "prefix"} {
		if _, err := resolve(snaps, spec, whose{mine: true}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("resolve %q: %v, want %q", spec, err, msg)
		}
	}
	if _, err := resolve(nil, "latest", whose{mine: true}); err == nil || !strings.Contains(err.Error(), "no snapshots") {
		t.Errorf("no snapshots: %v", err)
	}

	// With a grant the vault lists another client's snapshots too:
	// "latest" and prefixes resolve among the chosen client's only.
	own, other := whose{client: "web2", mine: true}, whose{client: "web1"}
	mixed := []*snapshot.Snapshot{snapWithID(0x21), snapWithID(0x22), snapWithID(0x23), snapWithID(0x24)}
	for i, c := range []string{"web2", "web1", "web2", "web1"} {
		mixed[i].Client = c
	}
	for _, tc := range []struct {
		spec string
		w    whose
		want int
	}{{"latest", own, 2}, {"latest", other, 3}, {"21", own, 0}, {"22", other, 1}, {"2", other, -1}, {"22", own, -1}, {"21", other, -1}} {
		s, err := resolve(mixed, tc.spec, tc.w)
		switch {
		case tc.want >= 0 && (err != nil || s != mixed[tc.want]):
			t.Errorf("resolve %q for %+v: %v, %v; want %v", tc.spec, tc.w, s, err, mixed[tc.want].ID.Short())
		case tc.want < 0 && err == nil:
			t.Errorf("resolve %q for %+v: %v, want an error", tc.spec, tc.w, s.ID.Short())
		}
	}
	if _, err := resolve(mixed, "latest", whose{client: "db1"}); err == nil || !strings.Contains(err.Error(), "grant-restore") {
		t.Errorf("a client without a grant: %v", err)
	}
	if _, err := resolve(mixed, "21", other); err == nil || !strings.Contains(err.Error(), `client "web1"`) {
		t.Errorf("another client's prefix: %v", err)
	}
	if got := ofClient(mixed, own); len(got) != 2 || got[0] != mixed[0] || got[1] != mixed[2] {
		t.Errorf("ofClient %+v: %v", own, got)
	}
}

func TestParseSinceAndSize(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-03-01T00:00:00Z": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"36h":                  now.Add(-36 * time.Hour),
		"7d":                   now.Add(-7 * 24 * time.Hour),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Error("parseSince accepted yesterday")
	}
	for in, want := range map[string]int64{"0": 0, "65536": 65536, "64M": 64 << 20, "1GiB": 1 << 30, "8k": 8 << 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseSize("-1"); err == nil {
		t.Error("parseSize accepted -1")
	}
}

func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		typ  tree.Type
		mode uint32
		want string
	}{
		{tree.File, 0o644, "-rw-r--r--"},
		{tree.Dir, 0o1777, "drwxrwxrwt"},
		{tree.File, 0o4755, "-rwsr-xr-x"},
		{tree.File, 0o2644, "-rw-r-Sr--"},
		{tree.Symlink, 0o777, "lrwxrwxrwx"},
		{tree.FIFO, 0o620, "prw--w----"},
		{tree.Image, 0o600, "irw-------"},
	} {
		if got := (browse.Entry{Type: tc.typ, Mode: tc.mode}).ModeString(); got != tc.want {
			t.Errorf("%v %o: %q, want %q", tc.typ, tc.mode, got, tc.want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"backup", "--dir", "/nonexistent"}, exitUsage, "nothing to back up"},
		{[]string{"restore", "latest", "--dir", "/nonexistent"}, exitUsage, "exactly one of"},
		{[]string{"restore", "latest", "--target", "/x", "--overwrite", "sometimes"}, exitUsage, "never, always or if-newer"},
		{[]string{"ls", "latest", "--dir", "/nonexistent"}, exitFailed, "not enrolled"},
		{[]string{"enrol", "nonsense", "--dir", "/nonexistent"}, exitFailed, "not a keep enrolment token"},
		{[]string{"backup", "--dir", "/nonexistent", "/no/such/path"}, exitFailed, "cannot back up"},
		{[]string{"backup", "--help"}, exitOK, "Exit codes"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), &env{stdout: &out, stderr: &errb}, tc.args)
		if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%q: exit %d (want %d), stderr %q", tc.args, code, tc.code, errb.String())
		}
	}
}

// TestGCPercent: a backup collects at AgentPercent (its peak RSS is the
// one that counts), a restore and the rest at Percent.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"backup", "/srv"}, gctune.AgentPercent},
		{[]string{"restore", "latest", "--target", "/x"}, gctune.Percent},
		{[]string{"cat", "latest", "/etc/hosts"}, gctune.Percent},
		{nil, gctune.Percent},
	} {
		if got := gcPercent(c.args); got != c.want {
			t.Errorf("%q: GC percent %d, want %d", c.args, got, c.want)
		}
	}
	if gctune.AgentPercent == gctune.Percent {
		t.Fatal("AgentPercent is Percent: the test cannot tell them apart")
	}
	if backupGCPercent(false) != gctune.AgentPercent || backupGCPercent(true) != gctune.Percent {
		t.Errorf("backup GC percent: full %d, incremental %d", backupGCPercent(false), backupGCPercent(true))
	}
}

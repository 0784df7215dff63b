package image

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestNewcRoundTrip(t *testing.T) {
	in := []entry{
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeCharDev | 0o600, rdevMajor: 5, rdevMinor: 1},
		{name: "init", mode: modeRegular | 0o755, data: []byte("12345")}, // odd sizes exercise padding
		{name: "sbin/modprobe", mode: modeSymlink | 0o777, data: []byte("/init")},
		{name: "x", mode: modeRegular | 0o644},
	}
	var buf bytes.Buffer
	n, err := writeNewc(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n%4 != 0 {
		t.Errorf("wrote %d bytes, reported %d", buf.Len(), n)
	}
	got, err := readNewc(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("read %d entries, want %d", len(got), len(in))
	}
	for i, g := range got {
		w := in[i]
		if g.name != w.name || g.mode != w.mode || !bytes.Equal(g.data, w.data) || g.rdevMajor != w.rdevMajor || g.rdevMinor != w.rdevMinor {
			t.Errorf("entry %d = %+v, want %+v", i, g.entry, w)
		}
		if g.ino != uint32(i+1) || g.uid != 0 || g.gid != 0 || g.mtime != 0 {
			t.Errorf("%s: ino %d uid %d gid %d mtime %d", g.name, g.ino, g.uid, g.gid, g.mtime)
		}
		if wantLinks := map[bool]uint32{true: 2, false: 1}[w.mode&modeType == modeDir]; g.nlink != wantLinks {
			t.Errorf("%s: nlink %d, want %d", g.name, g.nlink, wantLinks)
		}
	}
}

// TestNewcCpioOracle has GNU cpio list what writeNewc wrote.
func TestNewcCpioOracle(t *testing.T) {
	cpio := needTool(t, "cpio")
	var buf bytes.Buffer
	if _, err := writeNewc(&buf, []entry{
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeCharDev | 0o600, rdevMajor: 5, rdevMinor: 1},
		{name: "init", mode: modeRegular | 0o755, data: []byte("#!/bin/true\n")},
		{name: "sbin", mode: modeDir | 0o755},
		{name: "sbin/modprobe", mode: modeSymlink | 0o777, data: []byte("/init")},
	}); err != nil {
		t.Fatal(err)
	}
	got := cpioList(t, cpio, buf.Bytes())
	want := []string{
		"drwxr-xr-x 2 0 0 0 dev",
		"crw------- 1 0 0 5, 1 dev/console",
		"-rwxr-xr-x 1 0 0 12 init",
		"drwxr-xr-x 2 0 0 0 sbin",
		"lrwxrwxrwx 1 0 0 5 sbin/modprobe -> /init",
	}
	if !slices.Equal(got, want) {
		t.Errorf("cpio -tv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// cpioList runs "cpio -tv" on an archive and returns its lines without the
// date columns, whitespace collapsed.
func cpioList(t *testing.T, cpio string, archive []byte) []string {
	t.Helper()
	cmd := exec.Command(cpio, "-t", "-v", "--quiet", "--numeric-uid-gid")
	cmd.Stdin = bytes.NewReader(archive)
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -tv: %v", err)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		// mode links uid gid size-or-"maj," [min] Mon DD YYYY name [-> target]
		dateAt := 5
		if strings.HasSuffix(f[4], ",") {
			dateAt = 6
		}
		f = append(f[:dateAt:dateAt], f[dateAt+3:]...)
		lines = append(lines, strings.Join(f, " "))
	}
	return lines
}

func TestTree(t *testing.T) {
	tr := newTree()
	for _, err := range []error{
		tr.file("lib/modules/6.1/kernel/md.ko", 0o644, []byte("m")),
		tr.file("/init", 0o755, nil),
		tr.dir("tmp", 0o1777),
		tr.dir("lib", 0o700),
		tr.dir("lib/", 0o700), // same directory again: fine
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.file("init", 0o644, nil); err == nil {
		t.Error("adding init twice: no error")
	}
	entries, err := tr.entries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.name)
	}
	want := []string{"init", "lib", "lib/modules", "lib/modules/6.1", "lib/modules/6.1/kernel", "lib/modules/6.1/kernel/md.ko", "tmp"}
	if !slices.Equal(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
	if entries[1].mode != modeDir|0o700 || entries[2].mode != modeDir|0o755 || entries[6].mode != modeDir|0o1777 {
		t.Errorf("modes: lib %o, lib/modules %o, tmp %o", entries[1].mode, entries[2].mode, entries[6].mode)
	}
	bad := newTree()
	bad.file("etc", 0o644, nil)
	bad.file("etc/keep.yaml", 0o644, nil)
	if _, err := bad.entries(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file under a file: err = %v", err)
	}
}

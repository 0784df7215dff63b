package image

import (
	"context"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestToolClosureAgreesWithLdd resolves the product and oracle tools on
// this machine and has the system's ldd (the dynamic loader itself) say
// which libraries each needs: every one ldd names must be in our closure,
// under the soname the loader asks for.
func TestToolClosureAgreesWithLdd(t *testing.T) {
	ldd := needTool(t, "ldd")
	progs := append(slices.Clone(DefaultTools), OracleTools...)
	files, err := toolClosure("/", progs)
	if err != nil {
		t.Fatalf("toolClosure: %v (the tools come from make deps)", err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have["/"+f.name] = true
		if len(f.data) == 0 {
			t.Errorf("%s is empty", f.name)
		}
	}
	for _, p := range progs {
		if !have[p] {
			t.Errorf("closure lacks the program %s", p)
		}
		out, err := exec.Command(ldd, p).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", p, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "linux-vdso") {
				continue
			}
			var soname string
			switch {
			case len(fields) >= 3 && fields[1] == "=>":
				soname = path.Base(fields[0])
			case strings.HasPrefix(fields[0], "/"):
				// The interpreter, by the path the program names.
				if !have[fields[0]] {
					t.Errorf("%s: closure lacks the interpreter %s", p, fields[0])
				}
				continue
			default:
				continue
			}
			found := false
			for name := range have {
				if path.Base(name) == soname {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: ldd says it needs %s; closure has %v", p, soname, names(files))
			}
		}
	}
}

func names(files []toolFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.name)
	}
	return out
}

// TestToolClosureErrors: a missing program or library is a clear error
// naming it, not an image that fails at boot.
func TestToolClosureErrors(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "usr/sbin/static"), fakeELF(""))
	writeFile(t, filepath.Join(root, "usr/sbin/dynamic"), fakeELF("/lib64/ld-linux-x86-64.so.2"))
	writeFile(t, filepath.Join(root, "usr/sbin/text"), []byte("#!/bin/sh\n"))

	files, err := toolClosure(root, []string{"/usr/sbin/static"})
	if err != nil || len(files) != 1 || files[0].name != "usr/sbin/static" {
		t.Errorf("static program: %v, %v", names(files), err)
	}
	for _, c := range []struct {
		prog, want string
	}{
		{"/usr/sbin/absent", "tool /usr/sbin/absent"},
		{"usr/sbin/static", "want an absolute path"},
		{"/usr/sbin/text", "is not ELF"},
		{"/usr/sbin/dynamic", "interpreter"},
	} {
		_, err := toolClosure(root, []string{c.prog})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("toolClosure(%s) = %v, want an error with %q", c.prog, err, c.want)
		}
	}
}

// TestBuildTestImage: a test image carries the oracle tools and the
// marker; the product image carries neither.
func TestBuildTestImage(t *testing.T) {
	for _, test := range []bool{false, true} {
		s := fakeSpec(t)
		s.Tools = nil // the defaults, from this machine
		s.Test = test
		res, err := Build(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if res.Test != test || res.Tools == 0 {
			t.Errorf("test=%v: result %+v", test, res)
		}
		raw, _, _ := readImage(t, s.Output)
		list := cpioList(t, needTool(t, "cpio"), raw)
		has := func(suffix string) bool {
			return slices.ContainsFunc(list, func(l string) bool { return strings.HasSuffix(l, suffix) })
		}
		for _, p := range DefaultTools {
			if !has(" " + strings.TrimPrefix(p, "/")) {
				t.Errorf("test=%v: image lacks %s", test, p)
			}
		}
		if !has(" lib64/ld-linux-x86-64.so.2") || !has(" lib/x86_64-linux-gnu/libc.so.6") {
			t.Errorf("test=%v: image lacks the loader or libc", test)
		}
		for _, p := range append(slices.Clone(OracleTools), "/"+TestImageMarker, "/"+TestPSKPath,
			"/"+TestAPICertPath, "/"+TestAPIKeyPath, "/"+TestNOCCAPath) {
			if has(" "+strings.TrimPrefix(p, "/")) != test {
				t.Errorf("test=%v: %s present = %v", test, p, !test)
			}
		}
	}
}

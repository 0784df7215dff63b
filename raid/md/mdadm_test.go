package md

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mdadm returns the path of the mdadm binary, the independent oracle.
// Missing mdadm fails the test (only -short skips it).
func mdadm(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mdadm oracle skipped in -short mode")
	}
	p, err := exec.LookPath("mdadm")
	if err != nil {
		t.Fatalf("mdadm not found (the oracle for md superblocks): run make deps: %v", err)
	}
	return p
}

// memberFile creates a sparse member file of the given size.
func memberFile(t *testing.T, name string, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

// examine runs `mdadm <args> <path>` and parses "Key : value" lines.
func examine(t *testing.T, path string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(mdadm(t), append(args, path)...)
	cmd.Env = append(os.Environ(), "TZ=UTC") // mdadm prints times with ctime(3)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdadm %v %s: %v\nstdout:\n%s\nstderr:\n%s", args, path, err, out, stderr.String())
	}
	t.Logf("mdadm %v:\n%s", args, out)
	return parseExamine(string(out))
}

func parseExamine(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " : ")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

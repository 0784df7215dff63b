package raid

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// fakeSysfs builds the md attributes of a kernel with md_mod loaded and
// array md127 created.
func fakeSysfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range []string{
		"module/md_mod/parameters/new_array",
		"block/md127/md/metadata_version",
		"block/md127/md/new_dev",
		"block/md127/md/array_state",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSysfsSequence(t *testing.T) {
	root := fakeSysfs(t)
	var k Kernel = Sysfs{Root: root}
	steps := []struct {
		do   func() error
		file string
		want string
	}{
		{func() error { return k.NewArray("md127") }, "module/md_mod/parameters/new_array", "md127"},
		{func() error { return k.SetMetadataVersion("md127", "1.2") }, "block/md127/md/metadata_version", "1.2"},
		{func() error { return k.AddDevice("md127", DevNum{253, 16}) }, "block/md127/md/new_dev", "253:16"},
		{func() error { return k.SetArrayState("md127", "active") }, "block/md127/md/array_state", "active"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, s.file))
		if err != nil || string(got) != s.want {
			t.Errorf("%s = %q (%v), want %q", s.file, got, err, s.want)
		}
	}
}

func TestSysfsErrors(t *testing.T) {
	root := fakeSysfs(t)
	k := Sysfs{Root: root}
	// An array that does not exist: the attribute is missing, nothing is
	// created.
	err := k.SetArrayState("md5", "active")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing array: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "block/md5")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("sysfs writer created files")
	}
	for _, name := range []string{"", "..", "md0/../../etc", "."} {
		if err := k.NewArray(name); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	// md_mod not loaded.
	if err := (Sysfs{Root: t.TempDir()}).NewArray("md0"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no md_mod: %v", err)
	}
	// A read-only attribute (EACCES as non-root; root may write anyway).
	p := filepath.Join(root, "block/md127/md/array_state")
	if err := os.Chmod(p, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := k.SetArrayState("md127", "active"); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("read-only: %v", err)
		}
	}
}

func TestFilesOpener(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	if err := os.WriteFile(p, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	dev, c, err := Files{}.OpenMember(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := dev.WriteAt([]byte("x"), 4096); err != nil {
		t.Fatal(err)
	}
	if err := dev.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (Files{}).OpenMember(p + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

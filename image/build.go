package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"keep/appliance/kmod"
)

// Paths inside the image.
const (
	InitPath       = "init"               // the keep binary, run by the kernel as PID 1
	ModprobePath   = "sbin/modprobe"      // symlink to /init for request_module()
	ConfigPath     = "etc/keep/keep.yaml" // the default appliance config
	ModuleListPath = "etc/keep/modules"   // modules PID 1 loads, in load order
	consolePath    = "dev/console"        // opened by the kernel before devtmpfs
	modulesRoot    = "lib/modules"        // + /<release>/...
)

// Spec says what goes into an image.
type Spec struct {
	// Keep is the path of the static keep binary (becomes /init).
	Keep string
	// ModulesDir is the kernel's module tree, /lib/modules/<release>; its
	// base name is the release the image's tree is filed under.
	ModulesDir string
	// Config is the default appliance config file (becomes /etc/keep/keep.yaml).
	Config string
	// Modules are the modules the image carries (with their closure);
	// nil means DefaultModules.
	Modules []string
	// BootModules are the ones loaded at boot (/etc/keep/modules), a
	// subset of Modules' closure; nil means DefaultBootModules.
	BootModules []string
	// Tools are upstream programs (absolute host paths) copied with their
	// shared-library closure; nil means DefaultTools.
	Tools []string
	// ToolRoot is the tree Tools and their libraries are read from; ""
	// means "/" (the build host).
	ToolRoot string
	// Test makes a QEMU test image: OracleTools are added to Tools and
	// TestImageMarker enables the supervisor's test-only API. Never ship it.
	Test bool
	// Output is the image file to write (zstd-compressed newc cpio).
	Output string
}

// Result describes a built image.
type Result struct {
	Path            string
	RawBytes        int64 // the cpio archive
	CompressedBytes int64 // the image file
	Modules         int   // module files in the image
	ModuleBytes     int64 // their total size
	Tools           int   // tool files (programs, loader, libraries)
	ToolBytes       int64 // their total size
	Test            bool  // a test image (oracle tools, test API)
}

// String is the one-line summary mkimage prints.
func (r Result) String() string {
	kind := "image"
	if r.Test {
		kind = "test image"
	}
	return fmt.Sprintf("%s %s: %s zstd (%s raw), %d modules (%s), %d tool files (%s)",
		kind, r.Path, mib(r.CompressedBytes), mib(r.RawBytes), r.Modules, mib(r.ModuleBytes), r.Tools, mib(r.ToolBytes))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Build assembles the image described by s and writes it to s.Output
// (atomically: a temporary file renamed into place). The same inputs give
// a byte-identical image.
func Build(ctx context.Context, s Spec) (Result, error) {
	if s.Output == "" {
		return Result{}, fmt.Errorf("no output path")
	}
	raw, res, err := archive(ctx, s)
	if err != nil {
		return Result{}, err
	}
	var img bytes.Buffer
	if err := compressZstd(&img, raw); err != nil {
		return Result{}, err
	}
	if err := writeFileAtomic(s.Output, img.Bytes()); err != nil {
		return Result{}, err
	}
	res.Path = s.Output
	res.RawBytes = int64(len(raw))
	res.CompressedBytes = int64(img.Len())
	return res, nil
}

// archive returns the uncompressed cpio archive of the image.
func archive(ctx context.Context, s Spec) ([]byte, Result, error) {
	keep, err := readKeep(s.Keep)
	if err != nil {
		return nil, Result{}, err
	}
	config, err := readConfig(s.Config)
	if err != nil {
		return nil, Result{}, err
	}
	names := s.Modules
	if names == nil {
		names = DefaultModules
	}
	boot := s.BootModules
	if boot == nil {
		boot = DefaultBootModules
		if s.Modules != nil {
			boot = s.Modules
		}
	}
	if s.ModulesDir == "" {
		return nil, Result{}, fmt.Errorf("no module tree given (want /lib/modules/<release>)")
	}
	mods, err := selectModules(ctx, filepath.Clean(s.ModulesDir), names, boot)
	if err != nil {
		return nil, Result{}, err
	}
	toolList := s.Tools
	if toolList == nil {
		toolList = DefaultTools
	}
	if s.Test {
		toolList = append(slices.Clone(toolList), OracleTools...)
	}
	root := s.ToolRoot
	if root == "" {
		root = "/"
	}
	tools, err := toolClosure(root, toolList)
	if err != nil {
		return nil, Result{}, err
	}
	t, err := layout(keep, config, mods, tools, s.Test)
	if err != nil {
		return nil, Result{}, fmt.Errorf("image layout: %w", err)
	}
	entries, err := t.entries()
	if err != nil {
		return nil, Result{}, fmt.Errorf("image layout: %w", err)
	}
	var raw bytes.Buffer
	if _, err := writeNewc(&raw, entries); err != nil {
		return nil, Result{}, err
	}
	res := Result{Modules: len(mods.files), ModuleBytes: mods.bytes, Tools: len(tools), Test: s.Test}
	for _, f := range tools {
		res.ToolBytes += int64(len(f.data))
	}
	return raw.Bytes(), res, nil
}

// layout places everything in the image's file tree.
func layout(keep, config []byte, mods moduleSet, tools []toolFile, test bool) (*tree, error) {
	t := newTree()
	modDir := modulesRoot + "/" + mods.release
	steps := []error{
		t.dir("dev", 0o755), t.dir("proc", 0o555), t.dir("sys", 0o555), t.dir("run", 0o755),
		t.dir("tmp", 0o1777), t.dir("etc", 0o755), t.dir("sbin", 0o755), t.dir(modDir, 0o755),
		t.file(InitPath, 0o755, keep),
		t.symlink(ModprobePath, "/"+InitPath),
		t.charDev(consolePath, 0o600, 5, 1),
		t.file(ConfigPath, 0o644, config),
		t.file(ModuleListPath, 0o644, kmod.FormatList(mods.list)),
	}
	for _, f := range tools {
		steps = append(steps, t.file(f.name, 0o755, f.data))
	}
	if test {
		steps = append(steps, t.file(TestImageMarker, 0o644, []byte("QEMU test image: oracle tools and the test API; never ship it\n")))
		steps = append(steps, t.file(TestPSKPath, 0o600, []byte(TestPSK+"\n")))
		pki, err := TestAPIPKI()
		if err != nil {
			return nil, err
		}
		steps = append(steps, t.file(TestAPICertPath, 0o644, pki.ServerCert),
			t.file(TestAPIKeyPath, 0o600, pki.ServerKey), t.file(TestNOCCAPath, 0o644, pki.CACert))
	}
	for name, data := range mods.index {
		steps = append(steps, t.file(modDir+"/"+name, 0o644, data))
	}
	for p, data := range mods.files {
		steps = append(steps, t.file(modDir+"/"+p, 0o644, data))
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write image: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	return nil
}

package noc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"keep/image"
)

// KernelRelease is the pinned Debian kernel whose modules the image carries
// (the Makefile's KVER).
const KernelRelease = "6.1.0-56-amd64"

// Programs are the upstream programs in the image, copied from the build
// host with their shared-library closure (DT_NEEDED, RUNPATH honoured).
// Every one is required.
var Programs = []string{
	// strongSwan 5.9.8: the daemon without systemd, its control tool, pki.
	"/usr/sbin/charon-systemd", "/usr/sbin/swanctl", "/usr/bin/pki",
	// Network: iproute2, nftables, tcpdump, sysctl.
	"/usr/bin/ip", "/usr/sbin/nft", "/usr/bin/tcpdump", "/usr/sbin/sysctl",
	// The shell every script runs in, and the tools scripts use.
	"/usr/bin/bash",
	"/usr/bin/cat", "/usr/bin/ls", "/usr/bin/sleep", "/usr/bin/date", "/usr/bin/mkdir", "/usr/bin/rm",
	"/usr/bin/cp", "/usr/bin/mv", "/usr/bin/ln", "/usr/bin/chmod", "/usr/bin/grep", "/usr/bin/sed",
	"/usr/bin/head", "/usr/bin/tail", "/usr/bin/wc", "/usr/bin/seq", "/usr/bin/timeout", "/usr/bin/env",
	"/usr/bin/sort", "/usr/bin/tr", "/usr/bin/cut", "/usr/bin/sync", "/usr/bin/uname", "/usr/bin/dd",
	"/usr/bin/stat", "/usr/bin/tee", "/usr/bin/touch", "/usr/bin/od", "/usr/bin/base64",
	"/usr/bin/sha256sum", "/usr/bin/basename", "/usr/bin/dirname", "/usr/bin/readlink",
	"/usr/bin/mawk", "/usr/bin/xargs", "/usr/bin/find", "/usr/bin/dmesg",
	"/usr/bin/ps", "/usr/bin/pgrep", "/usr/bin/pkill", "/usr/bin/kill", "/usr/bin/hostname",
}

// PingPaths is where iputils' ping is looked for on the build host. Debian
// 12 without iputils-ping has none; the image then gets nocinit's own ICMP
// echo client (same summary line and exit status) as /usr/bin/ping.
var PingPaths = []string{"/usr/bin/ping", "/bin/ping"}

// SwanPlugins are the charon plugins the image carries and strongswan.conf
// loads. kdf is mandatory from 5.9.8 on; gcm and openssl come from
// libstrongswan-standard-plugins (AES-GCM, ECP DH). Debian 12 ships no
// curve25519 plugin in the packages deps.sh installs, so it is not listed.
var SwanPlugins = []string{
	"random", "nonce", "openssl", "pem", "pkcs1", "pkcs8", "x509", "revocation", "constraints",
	"pubkey", "gmp", "hmac", "kdf", "gcm", "aes", "sha1", "sha2", "drbg",
	"kernel-netlink", "socket-default", "vici", "updown",
}

// Dlopened are libraries nothing links but something dlopens: glibc's
// pthread_cancel needs libgcc_s (swanctl aborts on exit without it), and
// OpenSSL 3 loads its providers.
var Dlopened = []string{
	"/usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
	"/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so",
}

// Modules are the kernel modules the image carries (with their closure) and
// nocinit loads at boot, in dependency order: XFRM and ESP with the AES-GCM
// crypto (drbg provides stdrng, without which seqiv/echainiv fail; drbg's
// default hmac(sha512) needs sha512, which no modules.dep names: without it
// every AES SA fails with ENOENT; ctr and ghash are what gcm asks for at run
// time), xfrm interfaces, nftables NAT,
// veth, tun, and the virtio devices (the agent's port is virtio_console).
var Modules = []string{
	"virtio_pci", "virtio_net", "virtio_console",
	"xfrm_user", "xfrm_interface", "esp4", "authenc", "gcm", "ghash_generic", "ghash_clmulni_intel",
	"aesni_intel", "ctr", "seqiv", "echainiv", "drbg", "sha3_generic", "jitterentropy_rng",
	"sha512_generic", "sha512_ssse3", "sha256_ssse3",
	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct",
	"veth", "tun",
}

// Paths inside the image.
const (
	InitPath          = "/init"                 // nocinit, PID 1
	ModuleListPath    = "/etc/noc/modules"      // modules nocinit loads at boot
	ManifestPath      = "/etc/noc/manifest"     // what the image holds, one path per line
	StrongswanConf    = "/etc/strongswan.conf"  // charon-systemd, swanctl and pki settings
	SwanctlDir        = "/etc/swanctl"          // swanctl.conf, conf.d/, x509/, private/ …
	CharonLog         = "/var/log/charon.log"   // charon's filelog, ms timestamps
	CharonVici        = "/run/charon.vici"      // the vici socket (default URI)
	swanctlConfHeader = "include conf.d/*.conf" // swanctl.conf of the image
)

// DefaultStrongswanConf is the image's /etc/strongswan.conf: an explicit
// plugin list with kernel-netlink (real kernel ESP), no journal, and a file
// log with millisecond timestamps that SetupTime parses. Replace it with
// Options.Files when a test needs other settings.
var DefaultStrongswanConf = `# NOC guest: charon-systemd without systemd (package keep/qemu/noc)
charon-systemd {
  load = ` + strings.Join(SwanPlugins, " ") + `
  journal {
    default = -1
  }
  filelog {
    charon {
      path = ` + CharonLog + `
      time_format = %F %T
      time_add_ms = yes
      ike_name = yes
      append = no
      default = 1
      ike = 2
      knl = 2
      cfg = 1
      flush_line = yes
    }
  }
}
swanctl {
  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
pki {
  load = pem pkcs1 pkcs8 x509 pubkey openssl random gmp sha2
}
`

// ImageSpec says what the base image is built from. Zero fields take the
// build host's defaults.
type ImageSpec struct {
	// Root is the module root (the directory with go.mod); "" finds it
	// from the working directory.
	Root string
	// ModulesDir is the module tree, default /lib/modules/KernelRelease or
	// $KEEP_MODULES_DIR.
	ModulesDir string
	// OutDir is where the image and nocinit are written, default
	// <Root>/build/noc.
	OutDir string
}

// Image is a built base image.
type Image struct {
	Path     string   // the raw newc cpio archive
	Hash     string   // sha256 of its bytes
	Bytes    int64    // its size
	Fresh    bool     // written by this build (false: the cached file was current)
	Manifest []string // every path in the image
	Modules  []string // modules loaded at boot, in order
	Ping     string   // "iputils" or "nocinit"
}

var (
	imageMu    sync.Mutex
	imageCache = map[ImageSpec]*Image{}
)

// BuildImage builds the NOC base image, or reuses the one in OutDir when
// its inputs are unchanged: the archive is assembled in memory from the
// current inputs (nocinit is rebuilt by go build, which is cached) and
// written only when its sha256 differs from the file's. Within one process
// the result is memoised per spec.
func BuildImage(ctx context.Context, s ImageSpec) (*Image, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if img, ok := imageCache[s]; ok {
		return img, nil
	}
	key := s
	var err error
	if s.Root == "" {
		if s.Root, err = ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if s.ModulesDir == "" {
		s.ModulesDir = os.Getenv("KEEP_MODULES_DIR")
		if s.ModulesDir == "" {
			s.ModulesDir = "/lib/modules/" + KernelRelease
		}
	}
	if s.OutDir == "" {
		s.OutDir = filepath.Join(s.Root, "build", "noc")
	}
	if err := os.MkdirAll(s.OutDir, 0o755); err != nil {
		return nil, err
	}
	initBin := filepath.Join(s.OutDir, "nocinit")
	if err := GoBuild(ctx, s.Root, "./qemu/noc/cmd/nocinit", initBin); err != nil {
		return nil, err
	}
	raw, img, err := assemble(ctx, s, initBin)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	img.Hash = hex.EncodeToString(sum[:])
	img.Bytes = int64(len(raw))
	img.Path = filepath.Join(s.OutDir, "noc-base.cpio")
	sumPath := img.Path + ".sha256"
	old, _ := os.ReadFile(sumPath)
	if st, err := os.Stat(img.Path); err != nil || st.Size() != img.Bytes || strings.TrimSpace(string(old)) != img.Hash {
		if err := writeAtomic(img.Path, raw); err != nil {
			return nil, err
		}
		if err := writeAtomic(sumPath, []byte(img.Hash+"\n")); err != nil {
			return nil, err
		}
		img.Fresh = true
	}
	imageCache[key] = img
	return img, nil
}

// assemble lays out the image and returns the archive bytes.
func assemble(ctx context.Context, s ImageSpec, initBin string) ([]byte, *Image, error) {
	t := image.NewTree()
	img := &Image{}
	initData, err := os.ReadFile(initBin)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	for _, d := range []string{"dev", "proc", "sys", "run", "root", "var/log", "var/lib", "usr/bin", "usr/sbin", "bin", "sbin", "etc/noc", "noc"} {
		add(t.Dir(d, 0o755))
	}
	add(t.Dir("tmp", 0o1777))
	add(t.CharDev("dev/console", 0o600, 5, 1))
	add(t.File(strings.TrimPrefix(InitPath, "/"), 0o755, initData))
	add(t.Symlink("sbin/modprobe", InitPath))
	add(t.Symlink("var/run", "/run"))
	add(t.Symlink("bin/bash", "/usr/bin/bash"))
	add(t.Symlink("bin/sh", "/usr/bin/bash"))
	add(t.Symlink("usr/bin/awk", "mawk"))

	progs := slices.Clone(Programs)
	img.Ping = "nocinit"
	for _, p := range PingPaths {
		if _, err := os.Stat(p); err == nil {
			progs = append(progs, p)
			img.Ping = "iputils"
			break
		}
	}
	if img.Ping == "nocinit" {
		add(t.Symlink("usr/bin/ping", InitPath))
	}
	for _, p := range SwanPlugins {
		progs = append(progs, "/usr/lib/ipsec/plugins/libstrongswan-"+p+".so")
	}
	progs = append(progs, Dlopened...)
	files, err := elfClosure(progs)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		add(t.File(f.name, f.mode, f.data))
	}

	etc := map[string]string{
		"etc/passwd":                            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":                             "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":                             "127.0.0.1 localhost\n::1 localhost\n",
		"etc/nsswitch.conf":                     "passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n",
		"etc/strongswan.conf":                   DefaultStrongswanConf,
		"etc/swanctl/swanctl.conf":              swanctlConfHeader + "\n",
		strings.TrimPrefix(ModuleListPath, "/"): "",
	}
	for _, f := range []string{"/etc/protocols", "/etc/services"} {
		if b, err := os.ReadFile(f); err == nil {
			etc[strings.TrimPrefix(f, "/")] = string(b)
		}
	}
	for _, d := range []string{"conf.d", "x509", "x509ca", "private", "ecdsa", "rsa", "pkcs8", "x509crl"} {
		add(t.Dir("etc/swanctl/"+d, 0o755))
	}
	mods, err := t.AddModules(ctx, s.ModulesDir, Modules)
	if err != nil {
		return nil, nil, err
	}
	img.Modules = mods.List
	etc[strings.TrimPrefix(ModuleListPath, "/")] = strings.Join(mods.List, "\n") + "\n"
	for name, data := range etc {
		add(t.File(name, 0o644, []byte(data)))
	}
	// The manifest names every file added above (not the directories).
	var manifest []string
	manifest = append(manifest, InitPath, "/sbin/modprobe", "/usr/bin/ping")
	for _, f := range files {
		manifest = append(manifest, "/"+f.name)
	}
	for name := range etc {
		manifest = append(manifest, "/"+name)
	}
	manifest = append(manifest, fmt.Sprintf("# %d kernel modules (%d files, %.1f MiB) under /lib/modules/%s", len(mods.List), mods.Files, float64(mods.Bytes)/(1<<20), mods.Release))
	sort.Strings(manifest)
	manifest = slices.Compact(manifest)
	img.Manifest = manifest
	add(t.File(strings.TrimPrefix(ManifestPath, "/"), 0o644, []byte(strings.Join(manifest, "\n")+"\n")))
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("noc image layout: %w", err)
	}
	var raw bytes.Buffer
	if _, err := t.WriteNewc(&raw); err != nil {
		return nil, nil, err
	}
	return raw.Bytes(), img, nil
}

// elfFile is one file of a program closure, at its path in the image.
type elfFile struct {
	name string // no leading slash
	mode uint32
	data []byte
}

// libDirs is the Debian amd64 loader's search order after RUNPATH.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// elfClosure resolves programs and libraries (absolute host paths, symlinks
// followed) to the files needed to run them: each at its own path, its
// interpreter, and every DT_NEEDED library, recursively, searched in the
// object's DT_RUNPATH/DT_RPATH ($ORIGIN expanded) and then libDirs.
// image.toolClosure does the same without RUNPATH, which strongSwan's
// binaries need (/usr/lib/ipsec), hence this variant.
func elfClosure(programs []string) ([]elfFile, error) {
	var out []elfFile
	have := map[string]bool{}   // image paths added
	soname := map[string]bool{} // libraries resolved, by name
	type job struct {
		lib      string
		runpaths []string
	}
	var queue []job
	visit := func(p string) error {
		data, interp, needed, runpaths, err := readELF(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "/")
		if !have[name] {
			have[name] = true
			out = append(out, elfFile{name: name, mode: 0o755, data: data})
		}
		soname[path.Base(p)] = true
		if interp != "" && !have[strings.TrimPrefix(interp, "/")] {
			idata, err := os.ReadFile(interp)
			if err != nil {
				return fmt.Errorf("%s: interpreter: %w", p, err)
			}
			have[strings.TrimPrefix(interp, "/")] = true
			out = append(out, elfFile{name: strings.TrimPrefix(interp, "/"), mode: 0o755, data: idata})
		}
		for _, n := range needed {
			queue = append(queue, job{n, runpaths})
		}
		return nil
	}
	for _, p := range programs {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("program %q: want an absolute path", p)
		}
		if err := visit(p); err != nil {
			return nil, fmt.Errorf("%s: %w (install it: make deps)", p, err)
		}
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if soname[j.lib] {
			continue
		}
		found := ""
		for _, dir := range append(slices.Clone(j.runpaths), libDirs...) {
			p := path.Join(dir, j.lib)
			if _, err := os.Stat(p); err == nil {
				found = p
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("library %s: not found in %v or %s", j.lib, j.runpaths, strings.Join(libDirs, ", "))
		}
		if err := visit(found); err != nil {
			return nil, fmt.Errorf("library %s: %w", found, err)
		}
	}
	slices.SortFunc(out, func(a, b elfFile) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// readELF reads an ELF file (following symlinks) and returns its bytes,
// PT_INTERP, DT_NEEDED and its DT_RUNPATH/DT_RPATH directories.
func readELF(p string) (data []byte, interp string, needed, runpaths []string, err error) {
	data, err = os.ReadFile(p)
	if err != nil {
		return nil, "", nil, nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("%s is not ELF: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return nil, "", nil, nil, err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if needed, err = f.ImportedLibraries(); err != nil {
		return nil, "", nil, nil, err
	}
	origin := filepath.Dir(p)
	if real, err := filepath.EvalSymlinks(p); err == nil {
		origin = filepath.Dir(real)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				if d != "" {
					runpaths = append(runpaths, strings.ReplaceAll(d, "$ORIGIN", origin))
				}
			}
		}
	}
	return data, interp, needed, runpaths, nil
}

// ModuleRoot finds the directory of module keep's go.mod from the working
// directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module keep") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module keep's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// goTool returns the go command: the one in PATH, else the running
// toolchain's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// GoBuild builds a static binary (CGO_ENABLED=0, reproducible flags) of the
// package pkg ("./path" relative to root) to out.
func GoBuild(ctx context.Context, root, pkg, out string) error {
	return goRun(ctx, root, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
}

// GoTestBinary compiles pkg's tests into a static test binary at out
// (go test -c), for running inside the guest.
func GoTestBinary(ctx context.Context, root, pkg, out string) error {
	return goRun(ctx, root, "test", "-c", "-trimpath", "-buildvcs=false", "-o", out, pkg)
}

func goRun(ctx context.Context, root string, args ...string) error {
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// writeAtomic writes data to a temporary file next to p and renames it.
func writeAtomic(p string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// overlay returns a newc archive of files, appended to the base image at
// boot: the kernel unpacks concatenated archives in order, a later entry
// replacing an earlier one, so Files can also replace image files.
func overlay(files []File) ([]byte, error) {
	t := image.NewTree()
	for _, f := range files {
		data := f.Data
		if f.Source != "" {
			var err error
			if data, err = os.ReadFile(f.Source); err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
		}
		mode := uint32(f.Mode.Perm())
		if mode == 0 {
			mode = 0o644
		}
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("file %q: want an absolute guest path", f.Path)
		}
		if err := t.File(f.Path, mode, data); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if _, err := t.WriteNewc(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

package kmod

import (
	"bytes"
	"compress/gzip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// fakeDep is a small modules.dep modelled on the Debian 6.1 tree.
const fakeDep = `kernel/drivers/md/md-mod.ko:
kernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko
kernel/drivers/md/raid456.ko: kernel/crypto/async_tx/async_pq.ko kernel/crypto/async_tx/async_xor.ko kernel/crypto/async_tx/async_tx.ko kernel/drivers/md/md-mod.ko kernel/crypto/xor.ko kernel/lib/raid6/raid6_pq.ko kernel/lib/libcrc32c.ko
kernel/crypto/async_tx/async_tx.ko:
kernel/crypto/async_tx/async_xor.ko: kernel/crypto/async_tx/async_tx.ko kernel/crypto/xor.ko
kernel/crypto/async_tx/async_pq.ko: kernel/crypto/async_tx/async_xor.ko kernel/crypto/async_tx/async_tx.ko kernel/crypto/xor.ko kernel/lib/raid6/raid6_pq.ko
kernel/crypto/xor.ko:
kernel/lib/raid6/raid6_pq.ko:
kernel/lib/libcrc32c.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/char/ipmi/ipmi_msghandler.ko:
kernel/drivers/char/ipmi/ipmi_devintf.ko: kernel/drivers/char/ipmi/ipmi_msghandler.ko
kernel/drivers/char/ipmi/ipmi_si.ko: kernel/drivers/char/ipmi/ipmi_msghandler.ko
kernel/drivers/net/bonding/bonding.ko.zst:
kernel/net/xfrm/xfrm_user.ko.xz:
kernel/crypto/gcm.ko.gz:
`

const fakeAlias = `# Aliases extracted from modules themselves.
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_generic
alias crypto-crc32c crc32c_generic
alias net-pf-16-proto-6 xfrm_user
alias rtnl-link-bond bonding
alias md-level-6 raid456
alias block-major-9-* md_mod
alias acpi*:IPI0001:* ipmi_si
alias dmi:bvnIBM:*:pnIBM3850M2/x3950M2-* ipmi_si
alias usb:v0D96p5200d00[1-9]*dc* raid1
alias devname:mapper/control dm_mod
`

const fakeSoftdep = `# Soft dependencies extracted from modules themselves.
softdep libcrc32c pre: crc32c
softdep ipmi_msghandler post: ipmi_devintf
softdep cifs gcm
softdep raid1 pre: no-such-alias
`

const fakeBuiltin = "kernel/crypto/hmac.ko\nkernel/crypto/cbc.ko\n"

const fakeModinfo = "hmac.alias=crypto-hmac\x00hmac.alias=hmac\x00hmac.license=GPL\x00cbc.alias=crypto-cbc\x00"

// fakeImage is the content of a fake module file: tests recognise which
// module the kernel was handed by it.
func fakeImage(name string) []byte { return []byte("\x7fELF fake module " + name) }

// fakeTree returns a module directory with the index files above and a
// file per module, compressed according to its suffix.
func fakeTree(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{
		DepFile:            {Data: []byte(fakeDep)},
		AliasFile:          {Data: []byte(fakeAlias)},
		SoftdepFile:        {Data: []byte(fakeSoftdep)},
		BuiltinFile:        {Data: []byte(fakeBuiltin)},
		BuiltinModinfoFile: {Data: []byte(fakeModinfo)},
	}
	for _, line := range strings.Split(strings.TrimSpace(fakeDep), "\n") {
		p, _, _ := strings.Cut(line, ":")
		name, err := NameFromPath(p)
		if err != nil {
			t.Fatal(err)
		}
		fsys[p] = &fstest.MapFile{Data: compress(t, p, fakeImage(name))}
	}
	return fsys
}

func compress(t testing.TB, p string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch path.Ext(p) {
	case ".xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case ".zst":
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(data, nil)
	case ".gz":
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		return data
	}
	return b.Bytes()
}

// writeTree copies a MapFS to a fresh directory, for OpenDir and finit_module.
func writeTree(t testing.TB, fsys fstest.MapFS) string {
	t.Helper()
	dir := t.TempDir()
	for name, f := range fsys {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openFake(t testing.TB) *DB {
	t.Helper()
	db, err := Open(fakeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// fakeCall is one module syscall the loader made.
type fakeCall struct {
	module string
	finit  bool // finit_module with a path; otherwise init_module
	params string
}

// fakeKernel is the test seam: it never touches the host kernel. errno
// forces a result per module name; present lists <sys>/module/<name> paths.
type fakeKernel struct {
	t       testing.TB
	mu      sync.Mutex
	errno   map[string]syscall.Errno
	present map[string]bool
	calls   []fakeCall
}

func (k *fakeKernel) finitModule(p, params string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return k.load(data, true, params)
}

func (k *fakeKernel) initModule(image []byte, params string) error {
	return k.load(image, false, params)
}

func (k *fakeKernel) load(image []byte, finit bool, params string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name, ok := strings.CutPrefix(string(image), string(fakeImage("")))
	if !ok {
		k.t.Errorf("kernel handed a bad module image %q", image)
		return syscall.ENOEXEC
	}
	k.calls = append(k.calls, fakeCall{module: name, finit: finit, params: params})
	if e := k.errno[name]; e != 0 {
		return e
	}
	return nil
}

func (k *fakeKernel) exists(p string) bool { return k.present[p] }

func (k *fakeKernel) called() []string {
	var out []string
	for _, c := range k.calls {
		out = append(out, c.module)
	}
	return out
}

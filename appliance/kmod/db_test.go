package kmod

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestNameFromPath(t *testing.T) {
	tests := []struct {
		path, want string
		wantErr    bool
	}{
		{"kernel/drivers/md/md-mod.ko", "md_mod", false},
		{"kernel/arch/x86/crypto/crc32c-intel.ko.xz", "crc32c_intel", false},
		{"kernel/net/8021q/8021q.ko.zst", "8021q", false},
		{"a/b/c.ko.gz", "c", false},
		{"raid456.ko", "raid456", false},
		{"kernel/x/readme.txt", "", true},
		{"kernel/x/.ko", "", true},
		{"kernel/x/foo.ko.bz2", "", true},
	}
	for _, tt := range tests {
		got, err := NameFromPath(tt.path)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NameFromPath(%q) = %q, %v; want %q, err %v", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}

func names(mods []Module) []string {
	var out []string
	for _, m := range mods {
		out = append(out, m.Name)
	}
	return out
}

func TestClosure(t *testing.T) {
	db := openFake(t)
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"deps first, softdep pre before", []string{"raid456"},
			[]string{"crc32c_intel", "crc32c_generic", "libcrc32c", "raid6_pq", "xor", "md_mod", "async_tx", "async_xor", "async_pq", "raid456"}, ""},
		{"softdep post after", []string{"ipmi_si"}, []string{"ipmi_msghandler", "ipmi_devintf", "ipmi_si"}, ""},
		{"post softdep back to the requester", []string{"ipmi_devintf"}, []string{"ipmi_msghandler", "ipmi_devintf"}, ""},
		{"dedup and dash names", []string{"raid1", "md-mod", "raid1"}, []string{"md_mod", "raid1"}, ""},
		{"unresolvable softdep skipped", []string{"raid1"}, []string{"md_mod", "raid1"}, ""},
		{"builtin satisfied", []string{"hmac"}, []string{"hmac"}, ""},
		{"nothing", nil, nil, ""},
		{"unknown", []string{"raid1", "floppy"}, nil, "unknown module: floppy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Closure(tt.in...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrUnknownModule) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Closure(%v) = %v, want %v", tt.in, names(got), tt.want)
			}
		})
	}
	hmac, _ := db.Closure("hmac")
	if !hmac[0].Builtin || hmac[0].Path != "" {
		t.Errorf("hmac = %+v, want built-in without a path", hmac[0])
	}
}

func TestClosureBrokenDB(t *testing.T) {
	tests := []struct {
		name, dep, want string
	}{
		{"missing dependency", "a.ko: b.ko\n", "a depends on b: unknown module: b"},
		{"cycle", "a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\n", "dependency cycle: a -> b -> c -> a"},
	}
	for _, tt := range tests {
		db, err := Open(fstest.MapFS{DepFile: {Data: []byte(tt.dep)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Closure("a"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	db := openFake(t)
	tests := []struct {
		alias string
		want  []string
	}{
		{"net-pf-16-proto-6", []string{"xfrm_user"}},
		{"net_pf_16_proto_6", []string{"xfrm_user"}},
		{"crc32c", []string{"crc32c_intel", "crc32c_generic"}},
		{"md-mod", []string{"md_mod"}},
		{"block-major-9-0", []string{"md_mod"}},
		{"crypto-hmac", []string{"hmac"}},
		{"acpi:IPI0001:", []string{"ipmi_si"}},
		{"dmi:bvnIBM:a/b:pnIBM3850M2/x3950M2-x", []string{"ipmi_si"}}, // '*' matches '/' as in fnmatch
		{"usb:v0D96p5200d005dcX", []string{"raid1"}},
		{"usb:v0D96p5200d000dcX", nil},  // outside the [1-9] range
		{"devname:mapper/control", nil}, // alias of a module not in the DB
		{"no-such-thing", nil},
	}
	for _, tt := range tests {
		got, err := db.Resolve(tt.alias)
		if tt.want == nil {
			if !errors.Is(err, ErrUnknownModule) || !strings.Contains(err.Error(), tt.alias) {
				t.Errorf("Resolve(%q) = %v, %v; want unknown-module error naming it", tt.alias, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tt.alias, got, err, tt.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no modules.dep", fstest.MapFS{}, "read modules.dep"},
		{"dep without colon", fstest.MapFS{DepFile: {Data: []byte("a.ko\n")}}, "modules.dep: line 1: missing ':'"},
		{"dep not a module", fstest.MapFS{DepFile: {Data: []byte("a.ko:\nb.txt:\n")}}, "line 2"},
		{"bad alias", fstest.MapFS{DepFile: {Data: []byte("")}, AliasFile: {Data: []byte("alias x\n")}}, "modules.alias: line 1"},
		{"bad softdep", fstest.MapFS{DepFile: {Data: []byte("")}, SoftdepFile: {Data: []byte("options x y\n")}}, "modules.softdep: line 1"},
		{"bad builtin", fstest.MapFS{DepFile: {Data: []byte("")}, BuiltinFile: {Data: []byte("a b.ko\n")}}, "modules.builtin: line 1"},
		{"bad modinfo", fstest.MapFS{DepFile: {Data: []byte("")}, BuiltinModinfoFile: {Data: []byte("nodot\x00")}}, "modules.builtin.modinfo: record 1"},
	}
	for _, tt := range tests {
		if _, err := Open(tt.files); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestSubset(t *testing.T) {
	db := openFake(t)
	closure, err := db.Closure("raid456")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := db.Subset(names(closure)...)
	if err != nil {
		t.Fatal(err)
	}
	files := sub.IndexFiles()
	for _, absent := range []string{"xfrm_user", "ipmi", "bonding", "raid1"} {
		for name, data := range files {
			if strings.Contains(string(data), absent) {
				t.Errorf("%s of the subset mentions %s:\n%s", name, absent, data)
			}
		}
	}
	// Read back: same closure, aliases still resolve inside the subset.
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	back, err := Open(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Closure("raid456")
	if err != nil || !slices.Equal(names(got), names(closure)) {
		t.Errorf("closure read back = %v, %v; want %v", names(got), err, names(closure))
	}
	if got, err := back.Resolve("crypto-crc32c"); err != nil || len(got) != 2 {
		t.Errorf("Resolve(crypto-crc32c) in subset = %v, %v", got, err)
	}
	if got, err := back.Resolve("crypto-hmac"); err != nil || got[0] != "hmac" {
		t.Errorf("Resolve(crypto-hmac) in subset = %v, %v", got, err)
	}
	if _, err := db.Subset("raid456"); err == nil || !strings.Contains(err.Error(), "raid456 depends on") {
		t.Errorf("Subset without dependencies: err = %v", err)
	}
	if _, err := db.Subset("floppy"); !errors.Is(err, ErrUnknownModule) {
		t.Errorf("Subset(floppy): err = %v", err)
	}
}

func TestList(t *testing.T) {
	in := []string{"md_mod", "raid456", "8021q"}
	got := ParseList(append([]byte("# requested modules\n\n"), FormatList(in)...))
	if !slices.Equal(got, in) {
		t.Errorf("ParseList(FormatList(%v)) = %v", in, got)
	}
}

package kmod

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func newFakeLoader(t *testing.T, db *DB, k *fakeKernel, params Params) *Loader {
	t.Helper()
	k.t = t
	return &Loader{DB: db, Sys: "/fake/sys", Params: params, k: k}
}

func statuses(results []Result) map[string]Status {
	out := map[string]Status{}
	for _, r := range results {
		out[r.Module] = r.Status
	}
	return out
}

func TestLoad(t *testing.T) {
	all := []string{"raid456", "ipmi_si", "bonding"}
	loadOrder := []string{"crc32c_intel", "crc32c_generic", "libcrc32c", "raid6_pq", "xor", "md_mod", "async_tx", "async_xor", "async_pq", "raid456", "ipmi_msghandler", "ipmi_devintf", "ipmi_si", "bonding"}
	tests := []struct {
		name      string
		names     []string
		errno     map[string]syscall.Errno
		present   []string
		wantCalls []string
		want      map[string]Status
		wantErr   error // errors.Is target; nil: Load must succeed
	}{
		{name: "all load in order", names: all, wantCalls: loadOrder,
			want: map[string]Status{"raid456": Loaded, "crc32c_generic": Loaded, "ipmi_devintf": Loaded}},
		{name: "already in sysfs is skipped", names: []string{"raid1"}, present: []string{"md_mod"},
			wantCalls: []string{"raid1"}, want: map[string]Status{"md_mod": AlreadyLoaded, "raid1": Loaded}},
		{name: "EEXIST is success", names: []string{"raid1"}, errno: map[string]syscall.Errno{"md_mod": syscall.EEXIST},
			wantCalls: []string{"md_mod", "raid1"}, want: map[string]Status{"md_mod": AlreadyLoaded, "raid1": Loaded}},
		{name: "ENODEV is no device, not an error", names: []string{"ipmi_si", "raid1"}, errno: map[string]syscall.Errno{"ipmi_si": syscall.ENODEV},
			wantCalls: []string{"ipmi_msghandler", "ipmi_devintf", "ipmi_si", "md_mod", "raid1"},
			want:      map[string]Status{"ipmi_si": NoDevice, "raid1": Loaded}},
		{name: "ENXIO is no device", names: []string{"raid456"}, errno: map[string]syscall.Errno{"crc32c_intel": syscall.ENXIO},
			wantCalls: loadOrder[:10], want: map[string]Status{"crc32c_intel": NoDevice, "libcrc32c": Loaded, "raid456": Loaded}},
		{name: "EPERM fails the module and its dependents only", names: []string{"raid456", "bonding"}, errno: map[string]syscall.Errno{"md_mod": syscall.EPERM},
			wantCalls: []string{"crc32c_intel", "crc32c_generic", "libcrc32c", "raid6_pq", "xor", "md_mod", "async_tx", "async_xor", "async_pq", "bonding"},
			want:      map[string]Status{"md_mod": Failed, "raid456": Failed, "async_pq": Loaded, "bonding": Loaded},
			wantErr:   syscall.EPERM},
		{name: "unknown name is reported, the rest loads", names: []string{"floppy", "raid1"}, wantCalls: []string{"md_mod", "raid1"},
			want: map[string]Status{"floppy": Failed, "raid1": Loaded}, wantErr: ErrUnknownModule},
		{name: "builtin needs no syscall", names: []string{"hmac", "cbc"}, want: map[string]Status{"hmac": Builtin, "cbc": Builtin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{errno: tt.errno, present: map[string]bool{}}
			for _, p := range tt.present {
				k.present[filepath.Join("/fake/sys/module", p)] = true
			}
			results, err := newFakeLoader(t, openFake(t), k, nil).Load(context.Background(), tt.names...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(k.called(), tt.wantCalls) {
				t.Errorf("calls = %v\nwant    %v", k.called(), tt.wantCalls)
			}
			got := statuses(results)
			for m, s := range tt.want {
				if got[m] != s {
					t.Errorf("%s: status %v, want %v", m, got[m], s)
				}
			}
			for _, r := range results {
				if (r.Err != nil) != (r.Status == Failed || r.Status == NoDevice) {
					t.Errorf("%s: status %v with err %v", r.Module, r.Status, r.Err)
				}
				if r.Duration < 0 {
					t.Errorf("%s: negative duration", r.Module)
				}
			}
		})
	}
}

func TestLoadDependencyError(t *testing.T) {
	k := &fakeKernel{errno: map[string]syscall.Errno{"md_mod": syscall.EPERM}}
	results, _ := newFakeLoader(t, openFake(t), k, nil).Load(context.Background(), "raid1")
	if len(results) != 2 || !errors.Is(results[1].Err, ErrDependency) || results[1].Err.Error() != "load raid1: dependency not loaded: md_mod" {
		t.Errorf("results = %+v", results)
	}
	if got := results[0].Err.Error(); got != "load md_mod: operation not permitted" {
		t.Errorf("md_mod error = %q", got)
	}
}

// TestLoadSources checks how module bytes reach the kernel: plain modules of
// an on-disk tree by finit_module, everything else by init_module with the
// module decompressed in process; parameters go with their module.
func TestLoadSources(t *testing.T) {
	tree := fakeTree(t)
	onDisk, err := OpenDir(writeTree(t, tree))
	if err != nil {
		t.Fatal(err)
	}
	inFS, err := Open(tree)
	if err != nil {
		t.Fatal(err)
	}
	params := Params{"bonding": "max_bonds=0", "md_mod": "start_ro=1"}
	tests := []struct {
		name string
		db   *DB
		want []fakeCall
	}{
		{"dir", onDisk, []fakeCall{{"md_mod", true, "start_ro=1"}, {"raid1", true, ""}, {"bonding", false, "max_bonds=0"}, {"xfrm_user", false, ""}, {"gcm", false, ""}}},
		{"fs", inFS, []fakeCall{{"md_mod", false, "start_ro=1"}, {"raid1", false, ""}, {"bonding", false, "max_bonds=0"}, {"xfrm_user", false, ""}, {"gcm", false, ""}}},
	}
	for _, tt := range tests {
		k := &fakeKernel{}
		if _, err := newFakeLoader(t, tt.db, k, params).Load(context.Background(), "raid1", "bonding", "xfrm_user", "gcm"); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(k.calls, tt.want) {
			t.Errorf("%s: calls = %+v\nwant %+v", tt.name, k.calls, tt.want)
		}
	}
}

func TestLoadCorruptCompressedModule(t *testing.T) {
	tree := fakeTree(t)
	tree["kernel/net/xfrm/xfrm_user.ko.xz"].Data = []byte("not xz")
	db, err := Open(tree)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{}
	results, err := newFakeLoader(t, db, k, nil).Load(context.Background(), "xfrm_user")
	if err == nil || results[0].Status != Failed || len(k.calls) != 0 {
		t.Errorf("results %+v, err %v, calls %v", results, err, k.calls)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := &fakeKernel{}
	_, err := newFakeLoader(t, openFake(t), k, nil).Load(ctx, "raid1")
	if !errors.Is(err, context.Canceled) || len(k.calls) != 0 {
		t.Errorf("err = %v, calls = %v", err, k.calls)
	}
}

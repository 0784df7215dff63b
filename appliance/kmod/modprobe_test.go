package kmod

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestModprobe(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		errno      map[string]syscall.Errno
		wantCalls  []string
		wantParams map[string]string
		wantErr    error // errors.Is target, or errAny
		wantStderr string
	}{
		{name: "kernel request by alias", args: []string{"-q", "--", "net-pf-16-proto-6"}, wantCalls: []string{"xfrm_user"}},
		{name: "by name with dashes", args: []string{"-q", "--", "md-mod"}, wantCalls: []string{"md_mod"}},
		{name: "unknown alias, quiet", args: []string{"-q", "--", "net-pf-99"}, wantErr: ErrUnknownModule},
		{name: "unknown alias, loud", args: []string{"--", "net-pf-99"}, wantErr: ErrUnknownModule, wantStderr: "modprobe: unknown module: net-pf-99\n"},
		{name: "parameters follow the name", args: []string{"bonding", "max_bonds=0", "mode=1"}, wantCalls: []string{"bonding"},
			wantParams: map[string]string{"bonding": "miimon=100 max_bonds=0 mode=1"}},
		{name: "-a loads every argument", args: []string{"-qa", "raid1", "rtnl-link-bond"}, wantCalls: []string{"md_mod", "raid1", "bonding"}},
		{name: "alias with one absent device is fine", args: []string{"-q", "crc32c"}, errno: map[string]syscall.Errno{"crc32c_intel": syscall.ENODEV},
			wantCalls: []string{"crc32c_intel", "crc32c_generic"}},
		{name: "no device at all fails", args: []string{"-q", "--", "acpi:IPI0001:"}, errno: map[string]syscall.Errno{"ipmi_si": syscall.ENODEV},
			wantCalls: []string{"ipmi_msghandler", "ipmi_devintf", "ipmi_si"}, wantErr: errAny},
		{name: "load error fails", args: []string{"-q", "raid1"}, errno: map[string]syscall.Errno{"raid1": syscall.ENOEXEC},
			wantCalls: []string{"md_mod", "raid1"}, wantErr: syscall.ENOEXEC},
		{name: "builtin alias succeeds", args: []string{"-q", "--", "crypto-hmac"}},
		{name: "dry run loads nothing", args: []string{"-n", "raid456"}},
		{name: "verbose prints results", args: []string{"-v", "raid1"}, wantCalls: []string{"md_mod", "raid1"}, wantStderr: "modprobe: md_mod: loaded"},
		{name: "removal unsupported", args: []string{"-r", "raid1"}, wantErr: ErrUsage, wantStderr: `unsupported option "-r"`},
		{name: "no name", args: []string{"-q"}, wantErr: ErrUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{errno: tt.errno}
			var stderr bytes.Buffer
			l := newFakeLoader(t, openFake(t), k, Params{"bonding": "miimon=100"})
			err := l.Modprobe(context.Background(), tt.args, &stderr)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("err = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(k.called(), tt.wantCalls) {
				t.Errorf("calls = %v, want %v", k.called(), tt.wantCalls)
			}
			for _, c := range k.calls {
				if want, ok := tt.wantParams[c.module]; ok && c.params != want {
					t.Errorf("%s params = %q, want %q", c.module, c.params, want)
				}
			}
			if tt.wantStderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
			if l.Params["bonding"] != "miimon=100" {
				t.Errorf("Modprobe changed the loader's params: %v", l.Params)
			}
		})
	}
}

var errAny = errors.New("any error")

package kmod

import (
	"maps"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		cmdline string
		want    Params
	}{
		{"console=ttyS0 panic=-1 quiet", Params{}},
		{"bonding.max_bonds=0", Params{"bonding": "max_bonds=0"}},
		{"BOOT_IMAGE=/vmlinuz-6.1 root=/dev/md0.1 ip=10.0.0.1 bonding.max_bonds=0 bonding.mode=1\n",
			Params{"bonding": "max_bonds=0 mode=1"}},
		{"ipmi-si.type=kcs ipmi_si.ports=0xca2", Params{"ipmi_si": "type=kcs ports=0xca2"}},
		{"usbcore.nousb", Params{"usbcore": "nousb"}},
		{`dyndbg.x="a b" other=1`, Params{"dyndbg": `x="a b"`}},
		{`"foo.bar=a b" baz.q=1`, Params{"foo": `bar="a b"`, "baz": "q=1"}},
		{"a.b=1 -- c.d=2", Params{"a": "b=1"}},
		{".x=1 y.=2 =z.q", Params{}},
		{"", Params{}},
	}
	for _, tt := range tests {
		if got := ParseCmdline(tt.cmdline); !maps.Equal(got, tt.want) {
			t.Errorf("ParseCmdline(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}

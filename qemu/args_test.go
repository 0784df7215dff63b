package qemu

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestArgsMinimal(t *testing.T) {
	got, err := Machine{Kernel: "/k/vmlinux", Dir: "/w"}.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "1024",
		"-display", "none", "-no-reboot", "-nodefaults", "-monitor", "none",
		"-serial", "file:/w/console.log",
		"-qmp", "unix:/w/qmp.sock,server=on,wait=off",
		"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
		"-kernel", "/k/vmlinux",
		"-append", "console=ttyS0 panic=-1 cryptomgr.notests=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Args() =\n%q\nwant\n%q", got, want)
	}
}

func TestArgs(t *testing.T) {
	base := func(edit func(*Machine)) Machine {
		m := Machine{Kernel: "/k", Dir: "/w"}
		edit(&m)
		return m
	}
	tests := []struct {
		name    string
		m       Machine
		want    [][]string // each a run of consecutive arguments that must appear
		notWant []string   // arguments that must not appear
	}{
		{
			name: "boot options",
			m: base(func(m *Machine) {
				m.QEMU, m.Initrd, m.MemoryMB, m.CPUs = "/opt/qemu", "/i.cpio", 512, 2
				m.Append = []string{"keep.mode=test", "quiet"}
				m.Extra = []string{"-S", "-d", "guest_errors"}
			}),
			want: [][]string{
				{"-smp", "2", "-m", "512"},
				{"-kernel", "/k", "-initrd", "/i.cpio", "-append", "console=ttyS0 panic=-1 cryptomgr.notests=1 keep.mode=test quiet"},
				{"-S", "-d", "guest_errors"},
			},
		},
		{
			name: "virtio disk",
			m:    base(func(m *Machine) { m.Disks = []Disk{{ID: "d0", SizeBytes: 1 << 20}} }),
			want: [][]string{{
				"-blockdev", "driver=file,filename=/w/d0.img,node-name=disk-d0-file",
				"-blockdev", "driver=raw,file=disk-d0-file,node-name=disk-d0-raw",
				"-device", "pcie-root-port,id=rp-d0,bus=pcie.0,chassis=1,slot=1,hotplug=off",
				"-device", "virtio-blk-pci,bus=rp-d0,id=disk-d0,drive=disk-d0-raw,serial=d0",
			}},
		},
		{
			name: "hotpluggable nvme after a virtio disk",
			m: base(func(m *Machine) {
				m.Disks = []Disk{
					{ID: "v", Path: "/img/v.raw"},
					{ID: "n1", Kind: DiskNVMe, Serial: "NVME0001", Hotpluggable: true},
				}
			}),
			want: [][]string{
				{"-blockdev", "driver=file,filename=/img/v.raw,node-name=disk-v-file"},
				{
					"-device", "pcie-root-port,id=rp-n1,bus=pcie.0,chassis=1,slot=2",
					"-device", "nvme,bus=rp-n1,id=disk-n1,drive=disk-n1-raw,serial=NVME0001",
				},
				{"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"},
			},
		},
		{
			name: "sata disks take AHCI ports in order",
			m: base(func(m *Machine) {
				m.Disks = []Disk{
					{ID: "s0", Kind: DiskSATA, Serial: "SATA0001", Model: "Keep Disk, 2TB"},
					{ID: "v0"},
					{ID: "s1", Kind: DiskSATA},
				}
			}),
			want: [][]string{
				{"-device", "ide-hd,bus=ide.0,id=disk-s0,drive=disk-s0-raw,serial=SATA0001,model=Keep Disk,, 2TB"},
				{"-device", "ide-hd,bus=ide.1,id=disk-s1,drive=disk-s1-raw,serial=s1"},
				{"-device", "pcie-root-port,id=rp-v0,bus=pcie.0,chassis=1,slot=1,hotplug=off"},
			},
			notWant: []string{"pcie-root-port,id=rp-s0,bus=pcie.0,chassis=1,slot=1,hotplug=off"},
		},
		{
			name: "fault injection",
			m: base(func(m *Machine) {
				m.Disks = []Disk{{ID: "f", Kind: DiskSATA, FaultInjection: true}}
			}),
			want: [][]string{{
				"-blockdev", "driver=file,filename=/w/f.img,node-name=disk-f-file",
				"-blockdev", "driver=blkdebug,image=disk-f-file,config=/w/f.blkdebug.conf,node-name=disk-f-dbg",
				"-blockdev", "driver=raw,file=disk-f-dbg,node-name=disk-f-raw",
				"-device", "ide-hd,bus=ide.0,id=disk-f,drive=disk-f-raw,serial=f",
			}},
		},
		{
			name: "user nic with forwards",
			m: base(func(m *Machine) {
				m.NICs = []NIC{{ID: "lan", MAC: "52:54:00:00:00:01", Forwards: []Forward{
					{HostPort: 18080, GuestPort: 8080},
					{Proto: "udp", HostAddr: "127.0.0.2", HostPort: 5353, GuestPort: 53},
				}}}
			}),
			want: [][]string{{
				"-netdev", "user,id=net-lan,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=udp:127.0.0.2:5353-:53",
				"-device", "virtio-net-pci,netdev=net-lan,id=nic-lan,mac=52:54:00:00:00:01,romfile=",
			}},
		},
		{
			name: "socket nics",
			m: base(func(m *Machine) {
				m.NICs = []NIC{
					{ID: "a", Kind: NICSocket, Listen: "127.0.0.1:15001", MAC: "52:54:00:00:00:0a", Model: "e1000e"},
					{ID: "b", Kind: NICSocket, Connect: "127.0.0.1:15002", MAC: "52:54:00:00:00:0b"},
				}
			}),
			want: [][]string{
				{"-netdev", "socket,id=net-a,listen=127.0.0.1:15001",
					"-device", "e1000e,netdev=net-a,id=nic-a,mac=52:54:00:00:00:0a,romfile="},
				{"-netdev", "socket,id=net-b,connect=127.0.0.1:15002"},
			},
		},
		{
			name: "stream nics",
			m: base(func(m *Machine) {
				m.NICs = []NIC{
					{ID: "u", Kind: NICStream, Listen: "/tmp/l2.sock"},
					{ID: "i", Kind: NICStream, Connect: "127.0.0.1:15003"},
				}
			}),
			want: [][]string{
				{"-netdev", "stream,id=net-u,server=on,addr.type=unix,addr.path=/tmp/l2.sock"},
				{"-netdev", "stream,id=net-i,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=15003"},
			},
		},
		{
			name: "bmc",
			m:    base(func(m *Machine) { m.BMC = BMC{Enabled: true} }),
			want: [][]string{{"-device", "ipmi-bmc-sim,id=bmc0", "-device", "isa-ipmi-kcs,bmc=bmc0"}},
		},
		{
			name: "bmc with fru and sdr",
			m:    base(func(m *Machine) { m.BMC = BMC{Enabled: true, FRUFile: "/f/fru.bin", SDRFile: "/f/sdr.bin"} }),
			want: [][]string{{"-device", "ipmi-bmc-sim,id=bmc0,frudatafile=/f/fru.bin,sdrfile=/f/sdr.bin"}},
		},
		{
			name:    "no bmc",
			m:       base(func(*Machine) {}),
			notWant: []string{"isa-ipmi-kcs,bmc=bmc0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Args()
			if err != nil {
				t.Fatalf("Args: %v", err)
			}
			for _, run := range tt.want {
				if !containsRun(got, run) {
					t.Errorf("Args() lacks %q\nin %q", run, got)
				}
			}
			for _, a := range tt.notWant {
				if slices.Contains(got, a) {
					t.Errorf("Args() has %q", a)
				}
			}
		})
	}
}

func TestArgsDefaultMAC(t *testing.T) {
	mac := func(dir, id string) string {
		args, err := Machine{Kernel: "/k", Dir: dir, NICs: []NIC{{ID: id}}}.Args()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range args {
			if i := strings.Index(a, "mac="); i >= 0 {
				return a[i+4 : i+4+17]
			}
		}
		t.Fatalf("no mac in %q", args)
		return ""
	}
	a, b := mac("/vm/a", "lan"), mac("/vm/b", "lan")
	if a == b {
		t.Errorf("two VMs got the same default MAC %s", a)
	}
	if a != mac("/vm/a", "lan") {
		t.Errorf("default MAC is not stable")
	}
	if !strings.HasPrefix(a, "52:54:00:") {
		t.Errorf("default MAC %s is not in QEMU's range", a)
	}
}

func TestArgsInvalid(t *testing.T) {
	base := func(edit func(*Machine)) Machine {
		m := Machine{Kernel: "/k", Dir: "/w"}
		edit(&m)
		return m
	}
	sata := func(n int) []Disk {
		var d []Disk
		for i := range n {
			d = append(d, Disk{ID: string(rune('a' + i)), Kind: DiskSATA})
		}
		return d
	}
	tests := []struct {
		name string
		m    Machine
		want error
		text string
	}{
		{"no kernel", Machine{Dir: "/w"}, ErrInvalid, "Kernel"},
		{"no dir", Machine{Kernel: "/k"}, ErrInvalid, "Dir"},
		{"comma in dir", Machine{Kernel: "/k", Dir: "/a,b"}, ErrInvalid, "comma"},
		{"long dir", Machine{Kernel: "/k", Dir: "/" + strings.Repeat("d", 100)}, ErrInvalid, "socket path"},
		{"bad disk id", base(func(m *Machine) { m.Disks = []Disk{{ID: "has space"}} }), ErrInvalid, "disk ID"},
		{"long disk id", base(func(m *Machine) { m.Disks = []Disk{{ID: strings.Repeat("x", 17)}} }), ErrInvalid, "disk ID"},
		{"duplicate disk", base(func(m *Machine) { m.Disks = []Disk{{ID: "a"}, {ID: "a"}} }), ErrInvalid, "twice"},
		{"unknown kind", base(func(m *Machine) { m.Disks = []Disk{{ID: "a", Kind: "scsi"}} }), ErrInvalid, "kind"},
		{"seven sata", base(func(m *Machine) { m.Disks = sata(7) }), ErrInvalid, "6 ports"},
		{"hotplug sata", base(func(m *Machine) { m.Disks = []Disk{{ID: "a", Kind: DiskSATA, Hotpluggable: true}} }), ErrInvalid, "hot-unplugged"},
		{"model on virtio", base(func(m *Machine) { m.Disks = []Disk{{ID: "a", Model: "x"}} }), ErrInvalid, "Model"},
		{"long serial", base(func(m *Machine) { m.Disks = []Disk{{ID: "a", Serial: strings.Repeat("s", 21)}} }), ErrInvalid, "serial"},
		{"bad mac", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", MAC: "nope"}} }), ErrInvalid, "MAC"},
		{"duplicate nic", base(func(m *Machine) { m.NICs = []NIC{{ID: "n"}, {ID: "n"}} }), ErrInvalid, "twice"},
		{"forward on socket", base(func(m *Machine) {
			m.NICs = []NIC{{ID: "n", Kind: NICSocket, Listen: "127.0.0.1:1", Forwards: []Forward{{HostPort: 1, GuestPort: 1}}}}
		}), ErrInvalid, "Forwards"},
		{"socket without peer", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Kind: NICSocket}} }), ErrInvalid, "exactly one"},
		{"socket unix path", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Kind: NICSocket, Listen: "/tmp/x"}} }), ErrInvalid, "address"},
		{"connect port 0", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Kind: NICStream, Connect: "127.0.0.1:0"}} }), ErrInvalid, "port 0"},
		{"listen on user", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Listen: "127.0.0.1:1"}} }), ErrInvalid, "user NIC"},
		{"bad proto", base(func(m *Machine) {
			m.NICs = []NIC{{ID: "n", Forwards: []Forward{{Proto: "sctp", HostPort: 1, GuestPort: 1}}}}
		}), ErrInvalid, "proto"},
		{"no guest port", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Forwards: []Forward{{HostPort: 1}}}} }), ErrInvalid, "range"},
		{"unallocated forward", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Forwards: []Forward{{GuestPort: 8080}}}} }), ErrPortUnallocated, "Start"},
		{"unallocated listener", base(func(m *Machine) { m.NICs = []NIC{{ID: "n", Kind: NICSocket, Listen: "127.0.0.1:0"}} }), ErrPortUnallocated, "Start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.Args()
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Args() error = %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestArgsDoesNotModifyMachine(t *testing.T) {
	m := Machine{Kernel: "/k", Dir: "/w",
		Disks: []Disk{{ID: "a"}},
		NICs:  []NIC{{ID: "n", Forwards: []Forward{{HostPort: 1, GuestPort: 2}}}}}
	if _, err := m.Args(); err != nil {
		t.Fatal(err)
	}
	if m.Disks[0].Path != "" || m.Disks[0].Kind != "" || m.NICs[0].MAC != "" || m.NICs[0].Forwards[0].Proto != "" {
		t.Errorf("Args changed its machine: %+v", m)
	}
}

func TestAllocatePorts(t *testing.T) {
	m := Machine{Kernel: "/k", Dir: "/w", NICs: []NIC{
		{ID: "lan", Forwards: []Forward{{GuestPort: 8080}, {GuestPort: 22, HostPort: 2222}, {Proto: "udp", GuestPort: 53}}},
		{ID: "l2", Kind: NICSocket, Listen: "127.0.0.1:0"},
		{ID: "u", Kind: NICStream, Listen: "/tmp/u.sock"},
	}}.withDefaults()
	picked, err := allocatePorts(&m)
	if err != nil || !picked {
		t.Fatalf("allocatePorts = %v, %v", picked, err)
	}
	f := m.NICs[0].Forwards
	if f[0].HostPort == 0 || f[1].HostPort != 2222 || f[2].HostPort == 0 {
		t.Errorf("forwards after allocation: %+v", f)
	}
	if strings.HasSuffix(m.NICs[1].Listen, ":0") || m.NICs[2].Listen != "/tmp/u.sock" {
		t.Errorf("listeners after allocation: %q %q", m.NICs[1].Listen, m.NICs[2].Listen)
	}
	if _, err := m.Args(); err != nil {
		t.Errorf("Args after allocation: %v", err)
	}
}

// containsRun reports whether run appears as consecutive elements of s.
func containsRun(s, run []string) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

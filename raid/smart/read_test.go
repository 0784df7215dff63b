package smart

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func qemuATA(t *testing.T) *fakeATA {
	return newFakeATA(t, qemuIdentify(131072, 0), qemuSMARTData(), qemuThresholds(), passedRegs())
}

func TestReadATAQEMU(t *testing.T) {
	f := qemuATA(t)
	h, err := ReadATA(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ataKey{keyIdentify, keyReadData, keyThresholds, keyStatus}; !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("commands %v, want %v", f.calls, want)
	}
	if h.Status != StatusPassed || len(h.Data.Attributes) != 7 || len(h.Thresholds.Entries) != 7 || h.Identity.Model != "FeasDisk" {
		t.Fatalf("health %+v", h)
	}
	r := ATAReport("/dev/sda", h, DefaultPolicy())
	if r.Verdict != Passed || len(r.Reasons) != 0 || *r.TemperatureC != 31 {
		t.Fatalf("report %+v", r)
	}
}

func TestReadATAFailures(t *testing.T) {
	ctx := context.Background()
	abort := func(k ataKey) error {
		return &ATAError{Command: k.cmd, Features: k.feat, Status: 0x51, ErrorReg: 0x04}
	}
	illegal := &SenseError{Sense: Sense{Response: 0x70, Key: SenseKeyIllegalRequest, ASC: 0x20}}
	corrupt := qemuSMARTData()
	corrupt[7] ^= 0x40
	for _, tc := range []struct {
		name  string
		setup func(f *fakeATA)
		is    error
		check func(t *testing.T, h *ATAHealth)
	}{
		{"SCSI disk refuses pass-through: no SMART", func(f *fakeATA) { f.errs[keyIdentify] = illegal }, ErrNoSMART, nil},
		{"ATAPI aborts IDENTIFY DEVICE: no SMART", func(f *fakeATA) { f.errs[keyIdentify] = abort(keyIdentify) }, ErrNoSMART, nil},
		{"I/O error on IDENTIFY propagates", func(f *fakeATA) { f.errs[keyIdentify] = errEIO }, errEIO, nil},
		{"short IDENTIFY", func(f *fakeATA) { f.pages[keyIdentify] = f.pages[keyIdentify][:100] }, ErrTruncated, nil},
		{"all-zero IDENTIFY", func(f *fakeATA) { f.pages[keyIdentify] = make([]byte, 512) }, ErrMalformed, nil},
		{"no SMART feature set", func(f *fakeATA) { putWord(f.pages[keyIdentify], 82, 1<<14) }, ErrNoSMART, nil},
		{"SMART disabled: nothing else asked", func(f *fakeATA) { putWord(f.pages[keyIdentify], 85, 1<<14) }, nil,
			func(t *testing.T, h *ATAHealth) {
				if h.Data != nil || h.Status != StatusUnknown {
					t.Errorf("%+v", h)
				}
			}},
		{"READ DATA aborted", func(f *fakeATA) { f.errs[keyReadData] = abort(keyReadData) }, nil, nil},
		{"READ DATA short", func(f *fakeATA) { f.pages[keyReadData] = f.pages[keyReadData][:511] }, ErrTruncated, nil},
		{"READ DATA checksum", func(f *fakeATA) { f.pages[keyReadData] = corrupt }, ErrBadChecksum, nil},
		{"READ THRESHOLDS aborted: carry on without", func(f *fakeATA) { f.errs[keyThresholds] = abort(keyThresholds) }, nil,
			func(t *testing.T, h *ATAHealth) {
				if h.Thresholds != nil || h.Status != StatusPassed {
					t.Errorf("%+v", h)
				}
			}},
		{"READ THRESHOLDS I/O error", func(f *fakeATA) { f.errs[keyThresholds] = errEIO }, errEIO, nil},
		{"READ THRESHOLDS zero page", func(f *fakeATA) { f.pages[keyThresholds] = make([]byte, 512) }, ErrMalformed, nil},
		{"RETURN STATUS failing", func(f *fakeATA) { f.status = failingRegs() }, nil,
			func(t *testing.T, h *ATAHealth) {
				if h.Status != StatusFailing {
					t.Errorf("status %s", h.Status)
				}
			}},
		{"RETURN STATUS without registers", func(f *fakeATA) { f.status = nil }, nil,
			func(t *testing.T, h *ATAHealth) {
				if h.Status != StatusUnknown {
					t.Errorf("status %s", h.Status)
				}
			}},
		{"RETURN STATUS transport error", func(f *fakeATA) { f.errs[keyStatus] = ErrTransport }, ErrTransport, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := qemuATA(t)
			tc.setup(f)
			h, err := ReadATA(ctx, f)
			switch {
			case tc.check != nil:
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, h)
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("err %v, want %v", err, tc.is)
				}
			default:
				var ae *ATAError
				if !errors.As(err, &ae) {
					t.Fatalf("err %v, want *ATAError", err)
				}
			}
		})
	}
}

func TestReadATACancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := qemuATA(t)
	if _, err := ReadATA(ctx, f); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func qemuNVMe(t *testing.T, critical uint8) *fakeNVMe {
	return &fakeNVMe{t: t,
		ctrl: nvmeIdentifyCtrl("QEMU NVMe Ctrl", "NVME0001", "7.2.22", 0x157, 0x175),
		ns:   map[uint32][]byte{1: nvmeIdentifyNS(131072, 0, 9)},
		log:  qemuHealthLog(critical),
		errs: map[uint8]error{}}
}

func TestReadNVMe(t *testing.T) {
	ctx := context.Background()
	f := qemuNVMe(t, 0)
	h, err := ReadNVMe(ctx, f, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 3 || f.calls[1].NSID != 1 || f.calls[2].CDW10 != 0x007F0002 {
		t.Fatalf("calls %+v", f.calls)
	}
	if h.Controller.Model != "QEMU NVMe Ctrl" || h.Namespace.CapacityBytes() != 64<<20 || h.Log.TemperatureK != 323 {
		t.Fatalf("health %+v", h)
	}
	r := NVMeReport("/dev/nvme0n1", h, DefaultPolicy())
	if r.Verdict != Passed || r.CapacityBytes != 64<<20 || *r.TemperatureC != 50 {
		t.Fatalf("report %+v", r)
	}

	// The controller node: no namespace asked for.
	f = qemuNVMe(t, 2)
	h, err = ReadNVMe(ctx, f, 0)
	if err != nil || len(f.calls) != 2 || h.Namespace != nil {
		t.Fatalf("controller: %v %d calls %+v", err, len(f.calls), h)
	}
	if r := NVMeReport("/dev/nvme0", h, DefaultPolicy()); r.Verdict != Failing || r.CapacityBytes != 0 {
		t.Fatalf("report %+v", r)
	}

	// Unknown namespace: health still read, capacity unknown.
	f = qemuNVMe(t, 0)
	h, err = ReadNVMe(ctx, f, 7)
	if err != nil || h.Namespace != nil {
		t.Fatalf("unknown namespace: %v %+v", err, h)
	}

	for _, tc := range []struct {
		name  string
		setup func(f *fakeNVMe)
		is    error
	}{
		{"identify fails", func(f *fakeNVMe) { f.errs[NVMeOpIdentify] = errEIO }, errEIO},
		{"identify short", func(f *fakeNVMe) { f.ctrl = f.ctrl[:1000] }, ErrTruncated},
		{"namespace malformed", func(f *fakeNVMe) { f.ns[1] = nvmeIdentifyNS(10, 0, 3) }, ErrMalformed},
		{"log page refused", func(f *fakeNVMe) {
			f.errs[NVMeOpGetLogPage] = &NVMeStatusError{Opcode: NVMeOpGetLogPage, Status: 0x0109}
		}, nil},
		{"log page short", func(f *fakeNVMe) { f.log = f.log[:256] }, ErrTruncated},
	} {
		f := qemuNVMe(t, 0)
		tc.setup(f)
		_, err := ReadNVMe(ctx, f, 1)
		if tc.is == nil {
			var se *NVMeStatusError
			if !errors.As(err, &se) || se.SCT() != 1 || se.SC() != 9 {
				t.Errorf("%s: err %v", tc.name, err)
			}
		} else if !errors.Is(err, tc.is) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.is)
		}
	}
}

// sysTree builds a fake /sys with the links the kernel makes for an AHCI
// disk with a partition, an NVMe namespace, a virtio disk, an md array
// and an MMC card.
func sysTree(t *testing.T) string {
	t.Helper()
	sys := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(sys, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, link string) {
		if err := os.Symlink(filepath.Join(sys, target), filepath.Join(sys, link)); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(p string) {
		if err := os.WriteFile(filepath.Join(sys, p), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("bus/scsi")
	mk("bus/virtio")
	mk("bus/mmc")
	mk("class/nvme")
	mk("class/block")
	ata := "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"
	mk(ata + "/block/sda/sda1")
	touch(ata + "/block/sda/sda1/partition")
	ln("bus/scsi", ata+"/subsystem")
	ln(ata, ata+"/block/sda/device")
	ln(ata+"/block/sda", "class/block/sda")
	ln(ata+"/block/sda/sda1", "class/block/sda1")

	nv := "devices/pci0000:00/0000:00:03.0/nvme/nvme0"
	mk(nv + "/nvme0n1/nvme0n1p2")
	touch(nv + "/nvme0n1/nvme0n1p2/partition")
	ln("class/nvme", nv+"/subsystem")
	ln(nv, nv+"/nvme0n1/device")
	ln(nv+"/nvme0n1", "class/block/nvme0n1")
	ln(nv+"/nvme0n1/nvme0n1p2", "class/block/nvme0n1p2")

	vd := "devices/pci0000:00/0000:00:04.0/virtio2"
	mk(vd + "/block/vda")
	ln("bus/virtio", vd+"/subsystem")
	ln(vd, vd+"/block/vda/device")
	ln(vd+"/block/vda", "class/block/vda")

	mk("devices/virtual/block/md127")
	ln("devices/virtual/block/md127", "class/block/md127")

	mc := "devices/platform/mmc0/mmc0:0001"
	mk(mc + "/block/mmcblk0")
	ln("bus/mmc", mc+"/subsystem")
	ln(mc, mc+"/block/mmcblk0/device")
	ln(mc+"/block/mmcblk0", "class/block/mmcblk0")
	return sys
}

func TestResolve(t *testing.T) {
	sys := sysTree(t)
	dev := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dev, "disk/by-id"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "sda1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../sda1", filepath.Join(dev, "disk/by-id/ata-FeasDisk_SATA0001-part1")); err != nil {
		t.Fatal(err)
	}
	r := &Reader{Sys: sys}
	empty := &Reader{Sys: filepath.Join(sys, "nowhere")}
	d := func(n string) string { return filepath.Join(dev, n) }
	for _, tc := range []struct {
		name string
		r    *Reader
		path string
		want Target
		err  error
	}{
		{"sysfs sda", r, d("sda"), Target{Path: d("sda"), Name: "sda", Kind: KindATA}, nil},
		{"sysfs partition", r, d("sda1"), Target{Path: d("sda"), Name: "sda", Kind: KindATA}, nil},
		{"by-id symlink to a partition", r, d("disk/by-id/ata-FeasDisk_SATA0001-part1"), Target{Path: d("sda"), Name: "sda", Kind: KindATA}, nil},
		{"sysfs nvme namespace", r, d("nvme0n1"), Target{Path: d("nvme0n1"), Name: "nvme0n1", Kind: KindNVMe, NSID: 1}, nil},
		{"sysfs nvme partition", r, d("nvme0n1p2"), Target{Path: d("nvme0n1"), Name: "nvme0n1", Kind: KindNVMe, NSID: 1}, nil},
		{"nvme controller node", r, d("nvme0"), Target{Path: d("nvme0"), Name: "nvme0", Kind: KindNVMe}, nil},
		{"virtio", r, d("vda"), Target{}, ErrNoSMART},
		{"md", r, d("md127"), Target{}, ErrNoSMART},
		{"mmc", r, d("mmcblk0"), Target{}, ErrNoSMART},
		{"no sysfs: sd by name", empty, d("sdab3"), Target{Path: d("sdab"), Name: "sdab", Kind: KindATA}, nil},
		{"no sysfs: nvme by name", empty, d("nvme1c2n3p4"), Target{Path: d("nvme1c2n3"), Name: "nvme1c2n3", Kind: KindNVMe, NSID: 3}, nil},
		{"no sysfs: virtio by name", empty, d("vdb"), Target{}, ErrNoSMART},
		{"no sysfs: loop", empty, d("loop0"), Target{}, ErrNoSMART},
		{"empty path", r, "", Target{}, ErrNoSMART},
	} {
		got, err := tc.r.Resolve(tc.path)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want nvmeName
		ok   bool
	}{
		{"nvme0", nvmeName{controller: true, disk: "nvme0"}, true},
		{"nvme12n1", nvmeName{disk: "nvme12n1", nsid: 1}, true},
		{"nvme0n1p1", nvmeName{disk: "nvme0n1", nsid: 1}, true},
		{"nvme0c1n2", nvmeName{disk: "nvme0c1n2", nsid: 2}, true},
		{"nvme", nvmeName{}, false},
		{"nvmex", nvmeName{}, false},
		{"nvme0n", nvmeName{}, false},
		{"nvme0n1p", nvmeName{}, false},
		{"nvme0n1q1", nvmeName{}, false},
		{"nvme0n1p1x", nvmeName{}, false},
		{"nvme0c", nvmeName{}, false},
		{"nvme0x1", nvmeName{}, false},
		{"nvme0n99999999999", nvmeName{}, false},
		{"sda", nvmeName{}, false},
	} {
		got, ok := parseNVMe(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseNVMe(%q) = %+v %v", tc.name, got, ok)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"sda", "sda"}, {"sdz12", "sdz"}, {"sdaa", "sdaa"}, {"sd", ""}, {"sd1", ""}, {"sda1b", ""}, {"sg0", ""},
	} {
		got, ok := parseLettered(tc.in, "sd")
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("parseLettered(%q) = %q %v", tc.in, got, ok)
		}
	}
}

// fakeOpener hands out fake devices per path and records closes.
type fakeOpener struct {
	ata     map[string]ATADevice
	nvme    map[string]NVMeDevice
	openErr error
	closed  []string
	failClo bool
}

type closer struct {
	o    *fakeOpener
	path string
}

func (c closer) Close() error {
	c.o.closed = append(c.o.closed, c.path)
	if c.o.failClo {
		return errEIO
	}
	return nil
}

func (o *fakeOpener) OpenATA(path string) (ATADevice, io.Closer, error) {
	if o.openErr != nil {
		return nil, nil, o.openErr
	}
	d, ok := o.ata[path]
	if !ok {
		return nil, nil, os.ErrNotExist
	}
	return d, closer{o, path}, nil
}

func (o *fakeOpener) OpenNVMe(path string) (NVMeDevice, io.Closer, error) {
	if o.openErr != nil {
		return nil, nil, o.openErr
	}
	d, ok := o.nvme[path]
	if !ok {
		return nil, nil, os.ErrNotExist
	}
	return d, closer{o, path}, nil
}

func TestReader(t *testing.T) {
	sys := sysTree(t)
	ctx := context.Background()
	op := &fakeOpener{
		ata:  map[string]ATADevice{"/dev/sda": qemuATA(t)},
		nvme: map[string]NVMeDevice{"/dev/nvme0n1": qemuNVMe(t, CriticalReliability)},
	}
	r := &Reader{Sys: sys, Opener: op}
	rep, err := r.Read(ctx, "/dev/sda1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Device != "/dev/sda" || rep.Protocol != ProtocolATA || rep.Verdict != Passed || rep.Serial != "SATA0001" {
		t.Fatalf("ata report %+v", rep)
	}
	rep, err = r.Read(ctx, "/dev/nvme0n1p2")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Device != "/dev/nvme0n1" || rep.Protocol != ProtocolNVMe || rep.Verdict != Failing ||
		len(rep.Reasons) != 1 || rep.Reasons[0].Code != ReasonReliability {
		t.Fatalf("nvme report %+v", rep)
	}
	if !reflect.DeepEqual(op.closed, []string{"/dev/sda", "/dev/nvme0n1"}) {
		t.Fatalf("closed %v", op.closed)
	}
	if _, err := r.Read(ctx, "/dev/vda"); !errors.Is(err, ErrNoSMART) {
		t.Fatalf("virtio: %v", err)
	}

	// A stricter policy is data.
	p := DefaultPolicy()
	p.HDDTempWarnC = 30
	r.Policy = &p
	if rep, err := r.Read(ctx, "/dev/sda"); err != nil || rep.Verdict != Warning {
		t.Fatalf("strict policy: %v %+v", err, rep)
	}

	// Errors: the device fails (and is still closed), open fails, close fails.
	op.closed = nil
	op.ata["/dev/sda"].(*fakeATA).errs[keyReadData] = errEIO
	if _, err := r.Read(ctx, "/dev/sda"); !errors.Is(err, errEIO) || len(op.closed) != 1 {
		t.Fatalf("device error: %v, closed %v", err, op.closed)
	}
	op.ata["/dev/sda"].(*fakeATA).errs = map[ataKey]error{}
	op.failClo = true
	if _, err := r.Read(ctx, "/dev/sda"); !errors.Is(err, errEIO) {
		t.Fatalf("close error: %v", err)
	}
	op.openErr = os.ErrPermission
	if _, err := r.Read(ctx, "/dev/nvme0n1"); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("open error: %v", err)
	}
}

// The package-level Read: the real /sys and the Linux opener. A name that
// is neither in this host's sysfs nor a SCSI/NVMe name has no SMART.
func TestReadTopLevel(t *testing.T) {
	if _, err := Read(context.Background(), filepath.Join(t.TempDir(), "vdzz9")); !errors.Is(err, ErrNoSMART) {
		t.Fatalf("err %v", err)
	}
}

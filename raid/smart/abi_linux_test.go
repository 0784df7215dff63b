package smart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelABI pins the layouts measured on amd64 (notes/qemu.md §4):
// sg_io_hdr 88 bytes, nvme_passthru_cmd 72 bytes, and their field
// offsets from scsi/sg.h and linux/nvme_ioctl.h.
func TestKernelABI(t *testing.T) {
	if s := unsafe.Sizeof(nvmePassthruCmd{}); s != 72 {
		t.Errorf("sizeof(nvme_passthru_cmd) = %d, want 72", s)
	}
	if nvmeIoctlAdminCmd != 0xC0484E41 {
		t.Errorf("NVME_IOCTL_ADMIN_CMD = %#x, want 0xc0484e41", nvmeIoctlAdminCmd)
	}
	var n nvmePassthruCmd
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"nsid", unsafe.Offsetof(n.nsid), 4}, {"metadata", unsafe.Offsetof(n.metadata), 16},
		{"addr", unsafe.Offsetof(n.addr), 24}, {"data_len", unsafe.Offsetof(n.dataLen), 36},
		{"cdw10", unsafe.Offsetof(n.cdw10), 40}, {"cdw15", unsafe.Offsetof(n.cdw15), 60},
		{"timeout_ms", unsafe.Offsetof(n.timeoutMs), 64}, {"result", unsafe.Offsetof(n.result), 68},
	} {
		if f.got != f.want {
			t.Errorf("nvme_passthru_cmd.%s at %d, want %d", f.name, f.got, f.want)
		}
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("sg_io_hdr layout pinned for 64-bit only")
	}
	if s := unsafe.Sizeof(sgIOHdr{}); s != 88 {
		t.Errorf("sizeof(sg_io_hdr) = %d, want 88", s)
	}
	var h sgIOHdr
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"dxfer_len", unsafe.Offsetof(h.dxferLen), 12}, {"dxferp", unsafe.Offsetof(h.dxferp), 16},
		{"cmdp", unsafe.Offsetof(h.cmdp), 24}, {"sbp", unsafe.Offsetof(h.sbp), 32},
		{"timeout", unsafe.Offsetof(h.timeout), 40}, {"pack_id", unsafe.Offsetof(h.packID), 48},
		{"usr_ptr", unsafe.Offsetof(h.usrPtr), 56}, {"status", unsafe.Offsetof(h.status), 64},
		{"sb_len_wr", unsafe.Offsetof(h.sbLenWr), 67}, {"host_status", unsafe.Offsetof(h.hostStatus), 68},
		{"driver_status", unsafe.Offsetof(h.driverStatus), 70}, {"resid", unsafe.Offsetof(h.resid), 72},
		{"info", unsafe.Offsetof(h.info), 80},
	} {
		if f.got != f.want {
			t.Errorf("sg_io_hdr.%s at %d, want %d", f.name, f.got, f.want)
		}
	}
}

// The real ioctl paths against a node that is not a disk: the kernel
// answers ENOTTY, which the ATA side reports as "no SMART".
func TestLinuxDevicesOnRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notadisk")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := OpenATA(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ATACommand(ctx, ATACmd{Command: ATACmdIdentify, Count: 1}, make([]byte, 512)); !errors.Is(err, ErrNoSMART) || !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("SG_IO on a file: %v", err)
	}
	if _, err := a.ATACommand(ctx, ATACmd{Command: ATACmdIdentify, Count: 1}, make([]byte, 100)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("partial sector: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.ATACommand(cctx, ATACmd{Command: ATACmdIdentify}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	n, err := OpenNVMe(p)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.AdminCommand(ctx, NVMeAdminCmd{Opcode: NVMeOpIdentify, CDW10: 1}, make([]byte, 4096)); !errors.Is(err, unix.ENOTTY) {
		t.Fatalf("NVMe ioctl on a file: %v", err)
	}
	if _, err := n.AdminCommand(cctx, NVMeAdminCmd{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := OpenATA(filepath.Join(p, "missing")); err == nil {
		t.Fatal("opened a missing node")
	}
	if _, _, err := (LinuxOpener{}).OpenNVMe(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	// The whole Reader over the real opener: a regular file named like a
	// SCSI disk, no sysfs: ATA is tried and the file refuses SG_IO.
	dir := t.TempDir()
	sd := filepath.Join(dir, "sdq")
	if err := os.WriteFile(sd, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Reader{Sys: filepath.Join(dir, "nosys")}
	if _, err := r.Read(ctx, sd); !errors.Is(err, ErrNoSMART) {
		t.Fatalf("Reader on a file: %v", err)
	}
}

func TestCommandTimeout(t *testing.T) {
	if d := commandTimeout(context.Background(), 0); d != DefaultTimeout {
		t.Errorf("default %v", d)
	}
	if d := commandTimeout(context.Background(), time.Second); d != time.Second {
		t.Errorf("explicit %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if d := commandTimeout(ctx, 0); d > 200*time.Millisecond || d <= 0 {
		t.Errorf("deadline %v", d)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if d := commandTimeout(ctx, 0); d != time.Millisecond {
		t.Errorf("past deadline %v", d)
	}
}

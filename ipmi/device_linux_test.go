package ipmi

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestKernelABI pins the layouts measured on amd64 (notes/qemu.md §2).
func TestKernelABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("layouts pinned for amd64 only")
	}
	if s := unsafe.Sizeof(ipmiReq{}); s != 40 {
		t.Errorf("sizeof(ipmi_req) = %d, want 40", s)
	}
	if s := unsafe.Sizeof(ipmiRecv{}); s != 48 {
		t.Errorf("sizeof(ipmi_recv) = %d, want 48", s)
	}
	if ipmictlSendCommand != 0x8028690d || ipmictlReceiveMsgTrunc != 0xc030690b {
		t.Errorf("ioctls %#x %#x", ipmictlSendCommand, ipmictlReceiveMsgTrunc)
	}
}

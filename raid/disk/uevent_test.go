package disk

import (
	"strings"
	"testing"
)

func TestParseUevent(t *testing.T) {
	msg := "add@/devices/pci0000:00/0000:00:05.0/virtio6/block/vdg\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:05.0/virtio6/block/vdg\x00SUBSYSTEM=block\x00MAJOR=253\x00MINOR=96\x00DEVNAME=vdg\x00DEVTYPE=disk\x00DISKSEQ=9\x00SEQNUM=1234\x00"
	u, err := ParseUevent([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if u.Action != "add" || !u.IsDisk() || u.DevName != "vdg" || u.Env["MAJOR"] != "253" || !strings.HasSuffix(u.DevPath, "/vdg") {
		t.Errorf("uevent = %+v", u)
	}
	part, _ := ParseUevent([]byte("remove@/devices/x/block/sda/sda1\x00ACTION=remove\x00SUBSYSTEM=block\x00DEVTYPE=partition\x00DEVNAME=sda1"))
	if part.IsDisk() || part.Action != "remove" {
		t.Errorf("partition = %+v", part)
	}
	for _, bad := range []string{
		"", "libudev\x00\xfe\xed", "add", "add@relative", "@/devices/x",
		"add@/devices/x\x00ACTION=remove", strings.Repeat("a", 9000),
	} {
		if _, err := ParseUevent([]byte(bad)); err == nil {
			t.Errorf("ParseUevent(%q) accepted", truncate(bad, 40))
		}
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("add@/devices/virtio6/block/vdg\x00ACTION=add\x00SUBSYSTEM=block\x00DEVTYPE=disk\x00DEVNAME=vdg"))
	f.Add([]byte("change@/devices/virtual/block/md127\x00ACTION=change\x00"))
	f.Add([]byte("libudev\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUevent(b)
		if err != nil {
			return
		}
		if u.Action == "" || !strings.HasPrefix(u.DevPath, "/") || u.Env == nil {
			t.Errorf("accepted a uevent without action or devpath: %+v", u)
		}
		if a, ok := u.Env["ACTION"]; ok && a != u.Action {
			t.Errorf("ACTION %q disagrees with header %q", a, u.Action)
		}
	})
}

package pid1

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPowerButtonsFindsOnlyPowerButtons(t *testing.T) {
	sys := t.TempDir()
	for ev, name := range map[string]string{"event0": "Power Button", "event1": "AT Translated Set 2 keyboard", "event2": "Power Button\n"} {
		dir := filepath.Join(sys, "class/input", ev, "device")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "name"), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := PowerButtons(sys, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/dev/input/event0", "/dev/input/event2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestWatchPowerButtonCountsPresses(t *testing.T) {
	var stream []byte
	stream = append(stream, inputEvent(evKey, keyPower, 1)...) // press
	stream = append(stream, inputEvent(0, 0, 0)...)            // EV_SYN
	stream = append(stream, inputEvent(evKey, keyPower, 0)...) // release
	stream = append(stream, inputEvent(evKey, 30, 1)...)       // another key
	stream = append(stream, inputEvent(evKey, keyPower, 1)...) // second press
	var presses int
	// A reader that returns odd-sized pieces proves events split across
	// reads are reassembled.
	if err := WatchPowerButton(&chunked{r: bytes.NewReader(stream), n: 7}, func() { presses++ }); err != nil {
		t.Fatal(err)
	}
	if presses != 2 {
		t.Fatalf("presses = %d, want 2", presses)
	}
}

func TestWatchPowerButtonsStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "event0")
	if err := os.WriteFile(dev, inputEvent(evKey, keyPower, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var presses atomic.Int32
	done := make(chan error)
	go func() { done <- WatchPowerButtons(ctx, []string{dev}, func() { presses.Add(1); cancel() }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchPowerButtons did not return after cancel")
	}
	if presses.Load() != 1 {
		t.Fatalf("presses = %d", presses.Load())
	}
	if err := WatchPowerButtons(context.Background(), nil, func() {}); err == nil || !strings.Contains(err.Error(), "button") {
		t.Fatalf("no devices: err = %v", err)
	}
}

func TestUnmountTargets(t *testing.T) {
	mounts := `rootfs / rootfs rw 0 0
proc /proc proc rw,nosuid 0 0
sysfs /sys sysfs rw 0 0
devtmpfs /dev devtmpfs rw 0 0
tmpfs /run tmpfs rw 0 0
/dev/md0 /data xfs rw 0 0
/dev/md0 /data/with\040space xfs rw 0 0
`
	got, err := UnmountTargets(strings.NewReader(mounts))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/data/with space", "/data"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type chunked struct {
	r *bytes.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

package ntp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRTCSetWritesUTC(t *testing.T) {
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "rtc0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var got []unix.RTCTime
	r := RTC{DevRoot: dev, setTime: func(fd int, tm *unix.RTCTime) error {
		if fd < 0 {
			t.Errorf("fd %d", fd)
		}
		got = append(got, *tm)
		return nil
	}}
	var hw HardwareClock = r
	cet := time.FixedZone("CET", 3600)
	if err := hw.Set(time.Date(2027, 3, 1, 0, 30, 15, 999, cet)); err != nil {
		t.Fatal(err)
	}
	// 2027-02-28 23:30:15 UTC, a Sunday, day 58 of the year.
	want := unix.RTCTime{Sec: 15, Min: 30, Hour: 23, Mday: 28, Mon: 1, Year: 127, Wday: 0, Yday: 58}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("RTC_SET_TIME with %+v, want %+v", got, want)
	}
}

func TestRTCErrors(t *testing.T) {
	if err := (RTC{DevRoot: t.TempDir()}).Set(time.Now()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no device: %v", err)
	}
	// The real ioctl on something that is not an RTC: the kernel says so.
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "rtc0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (RTC{DevRoot: dev}).Set(time.Now()); !errors.Is(err, unix.ENOTTY) {
		t.Errorf("regular file: %v", err)
	}
}

func TestSlewTimex(t *testing.T) {
	tx := slewTimex(3*time.Second, 20*time.Millisecond, 64*time.Second)
	if tx.Offset != int64(maxSlew) || tx.Constant != 6 || tx.Maxerror != 20000 || tx.Esterror != 10000 ||
		tx.Status&unix.STA_PLL == 0 || tx.Status&unix.STA_UNSYNC != 0 || tx.Modes&unix.ADJ_NANO == 0 || tx.Modes&unix.ADJ_OFFSET == 0 {
		t.Errorf("large offset: %+v", tx)
	}
	if tx := slewTimex(-1500*time.Microsecond, 0, 16*time.Second); tx.Offset != -1500000 || tx.Constant != 4 {
		t.Errorf("small offset: %+v", tx)
	}
}

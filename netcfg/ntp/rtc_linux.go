package ntp

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// HardwareClock is the battery-backed clock the kernel reads at boot.
type HardwareClock interface {
	// Set writes t (kept in UTC).
	Set(t time.Time) error
}

// RTC is the hardware clock /dev/rtc0 under DevRoot, set with the
// RTC_SET_TIME ioctl.
type RTC struct {
	// DevRoot is where device nodes live ("/dev").
	DevRoot string

	// setTime is the ioctl; tests replace it.
	setTime func(fd int, t *unix.RTCTime) error
}

// Set writes t to the RTC in UTC (the kernel's hctosys reads it so).
func (r RTC) Set(t time.Time) error {
	path := filepath.Join(r.DevRoot, "rtc0")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("rtc: %w", err)
	}
	defer f.Close()
	set := r.setTime
	if set == nil {
		set = unix.IoctlSetRTCTime
	}
	rt := rtcTime(t)
	if err := set(int(f.Fd()), &rt); err != nil {
		return fmt.Errorf("rtc: RTC_SET_TIME on %s: %w", path, err)
	}
	return nil
}

func rtcTime(t time.Time) unix.RTCTime {
	u := t.UTC()
	return unix.RTCTime{
		Sec: int32(u.Second()), Min: int32(u.Minute()), Hour: int32(u.Hour()),
		Mday: int32(u.Day()), Mon: int32(u.Month()) - 1, Year: int32(u.Year() - 1900),
		Wday: int32(u.Weekday()), Yday: int32(u.YearDay() - 1),
	}
}

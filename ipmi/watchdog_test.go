package ipmi

import (
	"errors"
	"testing"
	"time"
)

func TestGetDeviceID(t *testing.T) {
	// QEMU bmc-sim defaults, then a real-world style answer with aux
	// firmware and ipmi_sim's trailing garbage.
	c, _ := newFake(t,
		ok(NetFnApp, 0x01, []byte{}, 0x20, 0x00, 0x00, 0x00, 0x02, 0x07, 0, 0, 0, 0, 0),
		ok(NetFnApp, 0x01, nil, 0x20, 0x81, 0x85, 0x25, 0x51, 0xbf, 0x57, 0x01, 0x00, 0x34, 0x12, 1, 2, 3, 4, 0xee, 0xee),
		ok(NetFnApp, 0x01, nil, 0x20, 0x00, 0x00),
	)
	ctx := ctxT(t)
	d, err := c.GetDeviceID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.DeviceID != 0x20 || d.IPMI() != "2.0" || d.Support != SupportSensor|SupportSDR|SupportSEL || d.AuxFirmware != nil {
		t.Errorf("qemu device id = %+v", d)
	}
	d, err = c.GetDeviceID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ProvidesSDRs || d.DeviceRevision != 1 || !d.UpdateInProgress || d.Firmware() != "5.25" ||
		d.IPMI() != "1.5" || d.ManufacturerID != 0x157 || d.ProductID != 0x1234 || hexs(d.AuxFirmware) != "01 02 03 04" {
		t.Errorf("device id = %+v", d)
	}
	if _, err := c.GetDeviceID(ctx); !errors.Is(err, ErrShortResponse) {
		t.Errorf("short device id: %v", err)
	}
}

func TestWatchdogEncode(t *testing.T) {
	tests := []struct {
		name string
		cfg  WatchdogConfig
		want string // request bytes
		bad  bool
	}{
		{name: "boot reset 300s", cfg: WatchdogConfig{Use: TimerUseSMSOS, Action: ActionHardReset, Timeout: 300 * time.Second},
			want: "04 01 00 00 b8 0b"},
		{name: "nmi pretimeout, clear flags, dont stop", cfg: WatchdogConfig{Use: TimerUseSMSOS, Action: ActionHardReset,
			PreTimeout: PreTimeoutNMI, PreTimeoutInterval: 2 * time.Second, Timeout: 10 * time.Second, DontStop: true,
			ClearExpired: []TimerUse{TimerUseSMSOS, TimerUseOSLoad}}, want: "44 21 02 18 64 00"},
		{name: "rounded up, dont log, power down", cfg: WatchdogConfig{Use: TimerUseOSLoad, Action: ActionPowerDown, Timeout: 150 * time.Millisecond, DontLog: true},
			want: "83 02 00 00 02 00"},
		{name: "max", cfg: WatchdogConfig{Use: TimerUseOEM, Timeout: 6553500 * time.Millisecond}, want: "05 00 00 00 ff ff"},
		{name: "too long", cfg: WatchdogConfig{Use: TimerUseSMSOS, Timeout: 6554 * time.Second}, bad: true},
		{name: "zero timeout", cfg: WatchdogConfig{Use: TimerUseSMSOS}, bad: true},
		{name: "bad use", cfg: WatchdogConfig{Use: 0, Timeout: time.Second}, bad: true},
		{name: "bad action", cfg: WatchdogConfig{Use: 4, Action: 4, Timeout: time.Second}, bad: true},
		{name: "pretimeout not below timeout", cfg: WatchdogConfig{Use: 4, PreTimeout: PreTimeoutNMI, PreTimeoutInterval: 5 * time.Second, Timeout: 5 * time.Second}, bad: true},
		{name: "pretimeout too long", cfg: WatchdogConfig{Use: 4, PreTimeout: PreTimeoutNMI, PreTimeoutInterval: 256 * time.Second, Timeout: 600 * time.Second}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.cfg.encode()
			if tt.bad {
				if err == nil {
					t.Fatalf("encode = % x, want error", b)
				}
				return
			}
			if err != nil || hexs(b) != tt.want {
				t.Fatalf("encode = % x, %v; want %s", b, err, tt.want)
			}
		})
	}
}

func TestWatchdogCommands(t *testing.T) {
	c, _ := newFake(t,
		ok(NetFnApp, 0x24, []byte{0x04, 0x21, 0x02, 0x00, 0x64, 0x00}, make([]byte, 30)...), // ipmi_sim garbage
		ok(NetFnApp, 0x22, []byte{}),
		// Get after a watchdog reset under QEMU: flag 0x10 (SMS/OS).
		ok(NetFnApp, 0x25, []byte{}, 0x44, 0x21, 0x02, 0x10, 0x64, 0x00, 0x5a, 0x00),
		ok(NetFnApp, 0x24, []byte{0x04, 0x00, 0x00, 0x00, 0x0a, 0x00}),
		cc(NetFnApp, 0x22, nil, 0x80),
		cc(NetFnApp, 0x24, nil, 0xcc), // power cycle rejected by QEMU
		ok(NetFnApp, 0x25, nil, 0x44, 0x21, 0x02),
	)
	ctx := ctxT(t)
	if err := c.SetWatchdog(ctx, WatchdogConfig{Use: TimerUseSMSOS, Action: ActionHardReset, PreTimeout: PreTimeoutNMI,
		PreTimeoutInterval: 2 * time.Second, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetWatchdog(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetWatchdog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := WatchdogState{Use: TimerUseSMSOS, Running: true, Action: ActionHardReset, PreTimeout: PreTimeoutNMI,
		PreTimeoutInterval: 2 * time.Second, Expired: 0x10, Timeout: 10 * time.Second, Remaining: 9 * time.Second}
	if s != want {
		t.Errorf("GetWatchdog = %+v\nwant %+v", s, want)
	}
	if !s.ResetByWatchdog() || !s.ExpiredFor(TimerUseSMSOS) || s.ExpiredFor(TimerUseOSLoad) || len(s.ExpiredUses()) != 1 {
		t.Errorf("expiry decoding wrong: %+v", s)
	}
	if err := c.DisarmWatchdog(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetWatchdog(ctx); !errors.Is(err, ErrWatchdogUninitialized) {
		t.Errorf("Reset uninitialized = %v", err)
	}
	err = c.SetWatchdog(ctx, WatchdogConfig{Use: TimerUseSMSOS, Action: ActionPowerCycle, Timeout: time.Second})
	if !errors.Is(err, ErrInvalidDataField) {
		t.Errorf("Set power cycle = %v", err)
	}
	if _, err := c.GetWatchdog(ctx); !errors.Is(err, ErrShortResponse) {
		t.Errorf("short Get = %v", err)
	}
}

func TestResetByWatchdog(t *testing.T) {
	for _, tt := range []struct {
		s    WatchdogState
		want bool
	}{
		{WatchdogState{Use: TimerUseSMSOS, Action: ActionHardReset, Expired: 0x10}, true},
		{WatchdogState{Use: TimerUseSMSOS, Action: ActionPowerDown, Expired: 0x10}, true},
		{WatchdogState{Use: TimerUseSMSOS, Action: ActionNone, Expired: 0x10}, false},
		{WatchdogState{Use: TimerUseSMSOS, Action: ActionHardReset, Expired: 0x08}, false},
		{WatchdogState{Use: TimerUseSMSOS, Action: ActionHardReset}, false},
	} {
		if got := tt.s.ResetByWatchdog(); got != tt.want {
			t.Errorf("%+v.ResetByWatchdog() = %v", tt.s, got)
		}
	}
}

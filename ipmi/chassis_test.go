package ipmi

import (
	"errors"
	"net/netip"
	"testing"
)

func TestChassis(t *testing.T) {
	c, _ := newFake(t,
		ok(NetFnChassis, 0x01, []byte{}, 0x61, 0x00, 0x00, 0x00), // QEMU: power on, policy unknown
		ok(NetFnChassis, 0x01, nil, 0x3f, 0x11, 0x0f),
		ok(NetFnChassis, 0x06, []byte{0x01}, 0x07),
		cc(NetFnChassis, 0x06, []byte{0x02}, 0xc1),
	)
	ctx := ctxT(t)
	s, err := c.GetChassisStatus(ctx)
	if err != nil || !s.PowerOn || s.RestorePolicy != RestoreUnknown || s.Intrusion || !s.HasFrontPanel {
		t.Errorf("qemu status = %+v, %v", s, err)
	}
	s, err = c.GetChassisStatus(ctx)
	want := ChassisStatus{PowerOn: true, PowerOverload: true, Interlock: true, PowerFault: true, PowerControlFault: true,
		RestorePolicy: RestorePrevious, LastPowerEvent: 0x11, Intrusion: true, FrontPanelLock: true, DriveFault: true, FanFault: true}
	if err != nil || s != want {
		t.Errorf("status = %+v, %v\nwant %+v", s, err, want)
	}
	sup, err := c.SetPowerRestorePolicy(ctx, RestorePrevious)
	if err != nil || sup != 0x07 {
		t.Errorf("SetPowerRestorePolicy = %#x, %v", sup, err)
	}
	if _, err := c.SetPowerRestorePolicy(ctx, RestoreAlwaysOn); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("unsupported: %v", err)
	}
	if _, err := c.SetPowerRestorePolicy(ctx, 4); err == nil {
		t.Error("policy 4 accepted")
	}
}

func TestFindLANChannel(t *testing.T) {
	info := func(ch, medium byte) []byte { return []byte{ch, medium, 0x01, 0x82, 0xf2, 0x1b, 0x00, 0, 0} }
	tests := []struct {
		name    string
		script  []step
		want    byte
		wantErr error
	}{
		{"qemu has no Get Channel Info", []step{cc(NetFnApp, 0x42, []byte{1}, 0xc1)}, 0, ErrNoLANChannel},
		{"channel 1 is LAN", []step{ok(NetFnApp, 0x42, []byte{1}, info(1, 0x04)...)}, 1, nil},
		{"ipmb, missing, then LAN", []step{
			ok(NetFnApp, 0x42, []byte{1}, info(1, 0x01)...),
			cc(NetFnApp, 0x42, []byte{2}, 0xcc),
			ok(NetFnApp, 0x42, []byte{3}, info(3, 0x04)...)}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newFake(t, tt.script...)
			got, err := c.FindLANChannel(ctxT(t))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("FindLANChannel = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	var script []step
	for ch := byte(1); ch <= 11; ch++ {
		script = append(script, cc(NetFnApp, 0x42, []byte{ch}, 0xcc))
	}
	c, _ := newFake(t, script...)
	if _, err := c.FindLANChannel(ctxT(t)); !errors.Is(err, ErrNoLANChannel) {
		t.Errorf("no channel: %v", err)
	}
}

func TestLANConfig(t *testing.T) {
	get := func(p byte, data ...byte) step {
		return ok(NetFnTransport, 0x02, []byte{1, p, 0, 0}, append([]byte{0x11}, data...)...)
	}
	set := func(p byte, data ...byte) step {
		return ok(NetFnTransport, 0x01, append([]byte{1, p}, data...))
	}
	c, _ := newFake(t,
		get(4, 0x01),
		get(3, 10, 0, 0, 5),
		get(6, 255, 255, 255, 0),
		get(12, 10, 0, 0, 1),
		get(5, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xee),
		// static set inside set-in-progress; commit write unsupported
		set(0, 1), set(4, 1), set(3, 10, 0, 0, 6), set(6, 255, 255, 0, 0), set(12, 10, 0, 0, 254),
		cc(NetFnTransport, 0x01, []byte{1, 0, 2}, 0x80), set(0, 0),
		// dhcp, no set-in-progress support
		cc(NetFnTransport, 0x01, []byte{1, 0, 1}, 0x80), set(4, 2),
		// locked by someone else
		cc(NetFnTransport, 0x01, []byte{1, 0, 1}, 0x81),
		// failure inside the lock still unlocks
		set(0, 1), cc(NetFnTransport, 0x01, []byte{1, 4, 2}, 0x82), set(0, 0),
		// unsupported parameter on get
		cc(NetFnTransport, 0x02, []byte{1, 4, 0, 0}, 0x80),
	)
	ctx := ctxT(t)
	cfg, err := c.GetLANConfig(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source != IPSourceStatic || cfg.Address != netip.MustParseAddr("10.0.0.5") || cfg.Netmask != netip.MustParseAddr("255.255.255.0") ||
		cfg.Gateway != netip.MustParseAddr("10.0.0.1") || cfg.MAC.String() != "52:54:00:12:34:56" {
		t.Errorf("GetLANConfig = %+v", cfg)
	}
	err = c.SetLANConfig(ctx, 1, LANConfig{Source: IPSourceStatic, Address: netip.MustParseAddr("10.0.0.6"),
		Netmask: netip.MustParseAddr("255.255.0.0"), Gateway: netip.MustParseAddr("10.0.0.254")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLANConfig(ctx, 1, LANConfig{Source: IPSourceDHCP}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLANConfig(ctx, 1, LANConfig{Source: IPSourceDHCP}); !errors.Is(err, ErrSetInProgress) {
		t.Errorf("locked: %v", err)
	}
	if err := c.SetLANConfig(ctx, 1, LANConfig{Source: IPSourceDHCP}); err == nil {
		t.Error("read-only write succeeded")
	}
	if _, err := c.GetLANConfig(ctx, 1); !errors.Is(err, ErrParameterUnsupported) {
		t.Errorf("unsupported get: %v", err)
	}
	if err := c.SetLANConfig(ctx, 1, LANConfig{Source: IPSourceStatic}); err == nil {
		t.Error("static without addresses accepted")
	}
}

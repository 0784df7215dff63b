package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// LAN and channel commands.
const (
	cmdGetChannelInfo = 0x42 // netfn App
	cmdSetLANConfig   = 0x01 // netfn Transport
	cmdGetLANConfig   = 0x02

	// LAN configuration parameters.
	lanSetInProgress = 0
	lanIPAddress     = 3
	lanIPSource      = 4
	lanMAC           = 5
	lanSubnetMask    = 6
	lanGateway       = 12

	mediumLAN        = 0x04 // 802.3 LAN
	maxChannelNumber = 0x0b
)

// Errors of LAN configuration.
var (
	ErrNoLANChannel = errors.New("ipmi: no LAN channel")
	// ErrSetInProgress is Set LAN Configuration's code 0x81: another
	// client holds "set in progress".
	ErrSetInProgress = errors.New("ipmi: LAN configuration locked by another set in progress")
	// ErrParameterUnsupported is LAN configuration code 0x80.
	ErrParameterUnsupported = errors.New("ipmi: LAN parameter not supported")
)

// ChannelInfo is the answer to Get Channel Info.
type ChannelInfo struct {
	Number   byte
	Medium   byte // 0x04 = 802.3 LAN
	Protocol byte
	Sessions byte // session support (bits 7:6) and active count
	VendorID uint32
}

// GetChannelInfo reads channel ch (0x0e = the channel of this request).
func (c *Client) GetChannelInfo(ctx context.Context, ch byte) (ChannelInfo, error) {
	r, err := c.call(ctx, NetFnApp, cmdGetChannelInfo, []byte{ch & 0x0f}, 7)
	if err != nil {
		return ChannelInfo{}, fmt.Errorf("get channel %d info: %w", ch, err)
	}
	return ChannelInfo{Number: r[0] & 0x0f, Medium: r[1] & 0x7f, Protocol: r[2] & 0x1f, Sessions: r[3],
		VendorID: uint32(r[4]) | uint32(r[5])<<8 | uint32(r[6])<<16}, nil
}

// FindLANChannel returns the first channel (1-11) whose medium is 802.3
// LAN. A BMC without Get Channel Info (QEMU's bmc-sim) or without a LAN
// channel gives ErrNoLANChannel.
func (c *Client) FindLANChannel(ctx context.Context) (byte, error) {
	for ch := byte(1); ch <= maxChannelNumber; ch++ {
		info, err := c.GetChannelInfo(ctx, ch)
		if err != nil {
			if errors.Is(err, ErrInvalidCommand) {
				return 0, fmt.Errorf("find LAN channel: %w: %w", ErrNoLANChannel, err)
			}
			if _, isCode := codeOf(err); isCode {
				continue // channel not present: 0xCC, 0xC9, 0xCB, …
			}
			return 0, fmt.Errorf("find LAN channel: %w", err)
		}
		if info.Medium == mediumLAN {
			return ch, nil
		}
	}
	return 0, fmt.Errorf("find LAN channel: %w", ErrNoLANChannel)
}

// IPSource is how the BMC's LAN address is assigned.
type IPSource byte

// IP address sources.
const (
	IPSourceUnspecified IPSource = 0
	IPSourceStatic      IPSource = 1
	IPSourceDHCP        IPSource = 2
	IPSourceBIOS        IPSource = 3
	IPSourceOther       IPSource = 4
)

func (s IPSource) String() string {
	switch s {
	case IPSourceStatic:
		return "static"
	case IPSourceDHCP:
		return "dhcp"
	case IPSourceBIOS:
		return "bios"
	case IPSourceOther:
		return "other"
	}
	return "unspecified"
}

// LANConfig is the BMC's management port addressing.
type LANConfig struct {
	Source  IPSource
	Address netip.Addr
	Netmask netip.Addr
	Gateway netip.Addr
	MAC     net.HardwareAddr // read only here
}

// lanError maps the LAN command-specific codes.
func lanError(err error) error {
	code, ok := codeOf(err)
	switch {
	case ok && code == 0x80:
		return fmt.Errorf("%w: %w", ErrParameterUnsupported, err)
	case ok && code == 0x81:
		return fmt.Errorf("%w: %w", ErrSetInProgress, err)
	}
	return err
}

// GetLANParameter reads parameter p of channel ch (set and block
// selector 0) and returns its data without the revision byte.
func (c *Client) GetLANParameter(ctx context.Context, ch, p byte, size int) ([]byte, error) {
	r, err := c.call(ctx, NetFnTransport, cmdGetLANConfig, []byte{ch & 0x0f, p, 0, 0}, 1+size)
	if err != nil {
		return nil, fmt.Errorf("get LAN parameter %d of channel %d: %w", p, ch, lanError(err))
	}
	return r[1 : 1+size], nil
}

// SetLANParameter writes parameter p of channel ch.
func (c *Client) SetLANParameter(ctx context.Context, ch, p byte, data []byte) error {
	req := append([]byte{ch & 0x0f, p}, data...)
	if _, err := c.call(ctx, NetFnTransport, cmdSetLANConfig, req, 0); err != nil {
		return fmt.Errorf("set LAN parameter %d of channel %d: %w", p, ch, lanError(err))
	}
	return nil
}

func ip4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]}) }

// GetLANConfig reads IP source, address, netmask, gateway and MAC.
func (c *Client) GetLANConfig(ctx context.Context, ch byte) (LANConfig, error) {
	var cfg LANConfig
	src, err := c.GetLANParameter(ctx, ch, lanIPSource, 1)
	if err != nil {
		return cfg, err
	}
	cfg.Source = IPSource(src[0] & 0x0f)
	for _, p := range []struct {
		param byte
		dst   *netip.Addr
	}{{lanIPAddress, &cfg.Address}, {lanSubnetMask, &cfg.Netmask}, {lanGateway, &cfg.Gateway}} {
		b, err := c.GetLANParameter(ctx, ch, p.param, 4)
		if err != nil {
			return cfg, err
		}
		*p.dst = ip4(b)
	}
	mac, err := c.GetLANParameter(ctx, ch, lanMAC, 6)
	if err != nil {
		return cfg, err
	}
	cfg.MAC = net.HardwareAddr(append([]byte(nil), mac...))
	return cfg, nil
}

// SetLANConfig writes the source and, for static addressing, address,
// netmask and gateway, inside "set in progress" (when the BMC supports
// it): lock, write, commit, unlock. The lock is released on failure too.
// MAC is not written.
func (c *Client) SetLANConfig(ctx context.Context, ch byte, cfg LANConfig) (err error) {
	if cfg.Source == IPSourceStatic {
		for _, a := range []netip.Addr{cfg.Address, cfg.Netmask, cfg.Gateway} {
			if !a.Is4() {
				return fmt.Errorf("set LAN config: static addressing needs IPv4 address, netmask and gateway, got %v", a)
			}
		}
	}
	locked := true
	if err := c.SetLANParameter(ctx, ch, lanSetInProgress, []byte{1}); err != nil {
		if !errors.Is(err, ErrParameterUnsupported) {
			return fmt.Errorf("set LAN config: %w", err)
		}
		locked = false
	}
	if locked {
		defer func() {
			if err == nil {
				// Commit write is optional; BMCs without it refuse it.
				cerr := c.SetLANParameter(ctx, ch, lanSetInProgress, []byte{2})
				if cerr != nil && !errors.Is(cerr, ErrParameterUnsupported) && !errors.Is(cerr, ErrInvalidDataField) {
					err = cerr
				}
			}
			if uerr := c.SetLANParameter(ctx, ch, lanSetInProgress, []byte{0}); uerr != nil && err == nil {
				err = uerr
			}
			if err != nil {
				err = fmt.Errorf("set LAN config: %w", err)
			}
		}()
	}
	if err := c.SetLANParameter(ctx, ch, lanIPSource, []byte{byte(cfg.Source)}); err != nil {
		return err
	}
	if cfg.Source != IPSourceStatic {
		return nil
	}
	for _, p := range []struct {
		param byte
		a     netip.Addr
	}{{lanIPAddress, cfg.Address}, {lanSubnetMask, cfg.Netmask}, {lanGateway, cfg.Gateway}} {
		b := p.a.As4()
		if err := c.SetLANParameter(ctx, ch, p.param, b[:]); err != nil {
			return err
		}
	}
	return nil
}

package ipmi

import (
	"context"
	"fmt"
)

// Chassis commands (netfn Chassis).
const (
	cmdGetChassisStatus      = 0x01
	cmdSetPowerRestorePolicy = 0x06
)

// RestorePolicy is what the BMC does with host power after AC returns.
type RestorePolicy byte

// Power restore policies.
const (
	RestoreAlwaysOff RestorePolicy = 0
	RestorePrevious  RestorePolicy = 1
	RestoreAlwaysOn  RestorePolicy = 2
	RestoreUnknown   RestorePolicy = 3 // in status; in Set it means "no change"
)

func (p RestorePolicy) String() string {
	switch p {
	case RestoreAlwaysOff:
		return "always-off"
	case RestorePrevious:
		return "previous"
	case RestoreAlwaysOn:
		return "always-on"
	}
	return "unknown"
}

// ChassisStatus is the answer to Get Chassis Status.
type ChassisStatus struct {
	PowerOn           bool
	PowerOverload     bool
	Interlock         bool
	PowerFault        bool
	PowerControlFault bool
	RestorePolicy     RestorePolicy
	// LastPowerEvent bits: 0 AC failed, 1 overload, 2 interlock, 3 fault,
	// 4 power on by IPMI command.
	LastPowerEvent byte
	Intrusion      bool
	FrontPanelLock bool
	DriveFault     bool
	FanFault       bool
	// FrontPanel is the optional fourth byte (button disable support).
	FrontPanel    byte
	HasFrontPanel bool
}

// GetChassisStatus reads power and chassis state.
func (c *Client) GetChassisStatus(ctx context.Context) (ChassisStatus, error) {
	r, err := c.call(ctx, NetFnChassis, cmdGetChassisStatus, nil, 3)
	if err != nil {
		return ChassisStatus{}, fmt.Errorf("get chassis status: %w", err)
	}
	s := ChassisStatus{
		PowerOn:           r[0]&0x01 != 0,
		PowerOverload:     r[0]&0x02 != 0,
		Interlock:         r[0]&0x04 != 0,
		PowerFault:        r[0]&0x08 != 0,
		PowerControlFault: r[0]&0x10 != 0,
		RestorePolicy:     RestorePolicy(r[0] >> 5 & 0x03),
		LastPowerEvent:    r[1] & 0x1f,
		Intrusion:         r[2]&0x01 != 0,
		FrontPanelLock:    r[2]&0x02 != 0,
		DriveFault:        r[2]&0x04 != 0,
		FanFault:          r[2]&0x08 != 0,
	}
	if len(r) > 3 {
		s.FrontPanel, s.HasFrontPanel = r[3], true
	}
	return s, nil
}

// SetPowerRestorePolicy sets p (RestoreUnknown only queries) and returns
// the policies the BMC supports as a bit mask (bit n = policy n).
func (c *Client) SetPowerRestorePolicy(ctx context.Context, p RestorePolicy) (byte, error) {
	if p > RestoreUnknown {
		return 0, fmt.Errorf("set power restore policy: %d out of range", byte(p))
	}
	r, err := c.call(ctx, NetFnChassis, cmdSetPowerRestorePolicy, []byte{byte(p)}, 1)
	if err != nil {
		return 0, fmt.Errorf("set power restore policy %s: %w", p, err)
	}
	return r[0] & 0x07, nil
}

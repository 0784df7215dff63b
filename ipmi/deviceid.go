package ipmi

import (
	"context"
	"fmt"
)

// DeviceID is the answer to Get Device ID (App 0x01).
type DeviceID struct {
	DeviceID         byte
	DeviceRevision   byte // bits 3:0
	ProvidesSDRs     bool
	FirmwareMajor    byte // bits 6:0
	UpdateInProgress bool // device unavailable: firmware/self-initialization
	FirmwareMinor    byte // BCD, e.g. 0x25 for .25
	IPMIVersion      byte // BCD nibbles, minor:major: 0x51 = 1.5, 0x02 = 2.0
	Support          byte // additional device support bits (sensor, SDR, SEL, FRU, …)
	ManufacturerID   uint32
	ProductID        uint16
	AuxFirmware      []byte // optional 4 bytes
}

// Device support bits of DeviceID.Support.
const (
	SupportSensor  = 0x01
	SupportSDR     = 0x02
	SupportSEL     = 0x04
	SupportFRU     = 0x08
	SupportChassis = 0x80
)

// Firmware is "major.minor" as ipmitool prints it.
func (d DeviceID) Firmware() string {
	return fmt.Sprintf("%d.%02x", d.FirmwareMajor, d.FirmwareMinor)
}

// IPMI is the IPMI version, e.g. "2.0".
func (d DeviceID) IPMI() string {
	return fmt.Sprintf("%d.%d", d.IPMIVersion&0x0f, d.IPMIVersion>>4)
}

// GetDeviceID reads the BMC's identity.
func (c *Client) GetDeviceID(ctx context.Context) (DeviceID, error) {
	r, err := c.call(ctx, NetFnApp, 0x01, nil, 11)
	if err != nil {
		return DeviceID{}, fmt.Errorf("get device id: %w", err)
	}
	return parseDeviceID(r), nil
}

func parseDeviceID(r []byte) DeviceID {
	d := DeviceID{
		DeviceID:         r[0],
		DeviceRevision:   r[1] & 0x0f,
		ProvidesSDRs:     r[1]&0x80 != 0,
		FirmwareMajor:    r[2] & 0x7f,
		UpdateInProgress: r[2]&0x80 != 0,
		FirmwareMinor:    r[3],
		IPMIVersion:      r[4],
		Support:          r[5],
		ManufacturerID:   uint32(r[6]) | uint32(r[7])<<8 | uint32(r[8]&0x0f)<<16,
		ProductID:        uint16(r[9]) | uint16(r[10])<<8,
	}
	if len(r) >= 15 {
		d.AuxFirmware = append([]byte(nil), r[11:15]...)
	}
	return d
}

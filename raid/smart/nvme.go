package smart

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// NVMeAdminCmd is one NVMe admin command (submission queue entry fields
// the passthrough ioctl takes). Data, if any, moves controller → host.
type NVMeAdminCmd struct {
	Opcode uint8
	NSID   uint32
	CDW10  uint32
	CDW11  uint32
	CDW12  uint32
	CDW13  uint32
	CDW14  uint32
	CDW15  uint32
}

// NVMeDevice is the seam between the NVMe health reader and the
// controller: one admin command. The Linux implementation is LinuxNVMe
// (NVME_IOCTL_ADMIN_CMD); tests use fakes.
//
// The command must fill buf exactly (len(buf) is the data length) and
// returns completion dword 0. A non-zero completion status is an
// *NVMeStatusError; AdminCommand returns ctx.Err() without issuing
// anything once ctx is done.
type NVMeDevice interface {
	AdminCommand(ctx context.Context, cmd NVMeAdminCmd, buf []byte) (result uint32, err error)
}

// NVMe admin opcodes, CNS values and the SMART / Health log (NVMe 1.4
// 5.14.1.2, 5.15).
const (
	NVMeOpGetLogPage   = 0x02
	NVMeOpIdentify     = 0x06
	nvmeCNSNamespace   = 0x00
	nvmeCNSController  = 0x01
	nvmeLogHealth      = 0x02
	nvmeNSIDAll        = 0xFFFFFFFF
	nvmeIdentifyLen    = 4096
	nvmeHealthLen      = 512
	nvmeHealthNUMDL    = nvmeHealthLen/4 - 1
	nvmeKelvinOffset   = 273
	nvmeMaxLBADataSize = 16 // 64 KiB logical blocks
	nvmeMinLBADataSize = 9  // 512 B
)

// Critical warning bits of the SMART / Health log, byte 0.
const (
	CriticalSpare          = 1 << 0 // available spare below its threshold
	CriticalTemperature    = 1 << 1 // composite temperature over/under a threshold
	CriticalReliability    = 1 << 2 // NVM subsystem reliability degraded (media or internal errors)
	CriticalReadOnly       = 1 << 3 // media placed in read-only mode
	CriticalVolatileBackup = 1 << 4 // volatile memory backup device failed
	CriticalPMR            = 1 << 5 // persistent memory region read-only or unreliable
)

// NVMeController is what Keep takes from Identify Controller (CNS 1).
type NVMeController struct {
	VendorID          uint16 `json:"vendor_id"`           // 0-1
	SubsystemVendorID uint16 `json:"subsystem_vendor_id"` // 2-3
	Serial            string `json:"serial"`              // 4-23
	Model             string `json:"model"`               // 24-63
	Firmware          string `json:"firmware"`            // 64-71
	Version           uint32 `json:"version"`             // 80-83, MJR<<16 | MNR<<8 | TER
	// WarningTempK and CriticalTempK (266-267, 268-269) are the
	// controller's composite temperature thresholds, 0 when not reported.
	WarningTempK  uint16  `json:"warning_temp_k"`
	CriticalTempK uint16  `json:"critical_temp_k"`
	TotalCapacity Uint128 `json:"total_capacity"` // 280-295, bytes, 0 when not reported
	Namespaces    uint32  `json:"namespaces"`     // 516-519
}

// DecodeNVMeController parses the 4096-byte Identify Controller data.
// Strings are ASCII, space padded; they are trimmed and non-printable
// bytes become '?'.
func DecodeNVMeController(b []byte) (*NVMeController, error) {
	if len(b) < nvmeIdentifyLen {
		return nil, fmt.Errorf("smart: decode NVMe Identify Controller: %d bytes, need %d: %w", len(b), nvmeIdentifyLen, ErrTruncated)
	}
	le := binary.LittleEndian
	return &NVMeController{
		VendorID:          le.Uint16(b[0:]),
		SubsystemVendorID: le.Uint16(b[2:]),
		Serial:            asciiString(b[4:24]),
		Model:             asciiString(b[24:64]),
		Firmware:          asciiString(b[64:72]),
		Version:           le.Uint32(b[80:]),
		WarningTempK:      le.Uint16(b[266:]),
		CriticalTempK:     le.Uint16(b[268:]),
		TotalCapacity:     le128(b[280:]),
		Namespaces:        le.Uint32(b[516:]),
	}, nil
}

// NVMeNamespace is what Keep takes from Identify Namespace (CNS 0).
type NVMeNamespace struct {
	NSID        uint32 `json:"nsid"`
	Size        uint64 `json:"size"`        // NSZE, logical blocks
	Capacity    uint64 `json:"capacity"`    // NCAP
	Utilization uint64 `json:"utilization"` // NUSE
	// BlockSize is the formatted LBA data size in bytes (FLBAS → LBAF
	// LBADS), 0 for an inactive namespace (NSZE 0).
	BlockSize uint32 `json:"block_size"`
}

// CapacityBytes is Size × BlockSize.
func (n *NVMeNamespace) CapacityBytes() uint64 { return n.Size * uint64(n.BlockSize) }

// DecodeNVMeNamespace parses the 4096-byte Identify Namespace data. An
// active namespace's formatted LBA data size must be 512 B..64 KiB and
// Size × BlockSize must fit in 64 bits (ErrMalformed otherwise).
func DecodeNVMeNamespace(b []byte) (*NVMeNamespace, error) {
	if len(b) < nvmeIdentifyLen {
		return nil, fmt.Errorf("smart: decode NVMe Identify Namespace: %d bytes, need %d: %w", len(b), nvmeIdentifyLen, ErrTruncated)
	}
	le := binary.LittleEndian
	n := &NVMeNamespace{
		Size:        le.Uint64(b[0:]),
		Capacity:    le.Uint64(b[8:]),
		Utilization: le.Uint64(b[16:]),
	}
	if n.Size == 0 {
		return n, nil
	}
	flbas := b[26]
	idx := int(flbas&0x0F) | int(flbas>>5&0x03)<<4
	lbads := b[128+4*idx+2]
	if lbads < nvmeMinLBADataSize || lbads > nvmeMaxLBADataSize {
		return nil, fmt.Errorf("smart: decode NVMe Identify Namespace: LBA format %d data size 2^%d: %w", idx, lbads, ErrMalformed)
	}
	if n.Size > ^uint64(0)>>lbads {
		return nil, fmt.Errorf("smart: decode NVMe Identify Namespace: %d blocks of 2^%d bytes: %w", n.Size, lbads, ErrMalformed)
	}
	n.BlockSize = 1 << lbads
	return n, nil
}

// HealthLog is the NVMe SMART / Health Information log page (log id 2).
type HealthLog struct {
	CriticalWarning  uint8  `json:"critical_warning"`  // 0
	TemperatureK     uint16 `json:"temperature_k"`     // 1-2, composite
	AvailableSpare   uint8  `json:"available_spare"`   // 3, percent
	SpareThreshold   uint8  `json:"spare_threshold"`   // 4, percent
	PercentageUsed   uint8  `json:"percentage_used"`   // 5, may exceed 100
	EnduranceWarning uint8  `json:"endurance_warning"` // 6, endurance group critical warning summary
	// Data units are thousands of 512-byte units.
	DataUnitsRead         Uint128   `json:"data_units_read"`         // 32
	DataUnitsWritten      Uint128   `json:"data_units_written"`      // 48
	HostReads             Uint128   `json:"host_reads"`              // 64
	HostWrites            Uint128   `json:"host_writes"`             // 80
	ControllerBusyMinutes Uint128   `json:"controller_busy_minutes"` // 96
	PowerCycles           Uint128   `json:"power_cycles"`            // 112
	PowerOnHours          Uint128   `json:"power_on_hours"`          // 128
	UnsafeShutdowns       Uint128   `json:"unsafe_shutdowns"`        // 144
	MediaErrors           Uint128   `json:"media_errors"`            // 160
	ErrorLogEntries       Uint128   `json:"error_log_entries"`       // 176
	WarningTempMinutes    uint32    `json:"warning_temp_minutes"`    // 192
	CriticalTempMinutes   uint32    `json:"critical_temp_minutes"`   // 196
	TempSensorsK          [8]uint16 `json:"temp_sensors_k"`          // 200-215, 0 = not implemented
	ThermalMgmt1Count     uint32    `json:"thermal_mgmt1_transitions"`
	ThermalMgmt2Count     uint32    `json:"thermal_mgmt2_transitions"`
	ThermalMgmt1Seconds   uint32    `json:"thermal_mgmt1_seconds"`
	ThermalMgmt2Seconds   uint32    `json:"thermal_mgmt2_seconds"`
}

// TemperatureC is the composite temperature in °C (0 K means not
// reported).
func (h *HealthLog) TemperatureC() (int, bool) {
	if h.TemperatureK == 0 {
		return 0, false
	}
	return int(h.TemperatureK) - nvmeKelvinOffset, true
}

// DecodeHealthLog parses the 512-byte SMART / Health log page (extra
// bytes ignored). Every field of the page up to byte 231 is decoded;
// 7-31 and 232-511 are reserved.
func DecodeHealthLog(b []byte) (*HealthLog, error) {
	if len(b) < nvmeHealthLen {
		return nil, fmt.Errorf("smart: decode NVMe health log: %d bytes, need %d: %w", len(b), nvmeHealthLen, ErrTruncated)
	}
	le := binary.LittleEndian
	h := &HealthLog{
		CriticalWarning:       b[0],
		TemperatureK:          le.Uint16(b[1:]),
		AvailableSpare:        b[3],
		SpareThreshold:        b[4],
		PercentageUsed:        b[5],
		EnduranceWarning:      b[6],
		DataUnitsRead:         le128(b[32:]),
		DataUnitsWritten:      le128(b[48:]),
		HostReads:             le128(b[64:]),
		HostWrites:            le128(b[80:]),
		ControllerBusyMinutes: le128(b[96:]),
		PowerCycles:           le128(b[112:]),
		PowerOnHours:          le128(b[128:]),
		UnsafeShutdowns:       le128(b[144:]),
		MediaErrors:           le128(b[160:]),
		ErrorLogEntries:       le128(b[176:]),
		WarningTempMinutes:    le.Uint32(b[192:]),
		CriticalTempMinutes:   le.Uint32(b[196:]),
		ThermalMgmt1Count:     le.Uint32(b[216:]),
		ThermalMgmt2Count:     le.Uint32(b[220:]),
		ThermalMgmt1Seconds:   le.Uint32(b[224:]),
		ThermalMgmt2Seconds:   le.Uint32(b[228:]),
	}
	for i := range h.TempSensorsK {
		h.TempSensorsK[i] = le.Uint16(b[200+2*i:])
	}
	return h, nil
}

// NVMeHealth is everything read from an NVMe controller.
type NVMeHealth struct {
	Controller NVMeController
	// Namespace is nil when no namespace was asked for (the controller
	// character device) or the controller refused Identify Namespace.
	Namespace *NVMeNamespace
	Log       HealthLog
}

// ReadNVMe reads Identify Controller, Identify Namespace nsid (when nsid
// is neither 0 nor 0xFFFFFFFF) and the controller-wide SMART / Health log
// (nsid 0xFFFFFFFF, NUMDL 127: cdw10 = 127<<16 | 2).
func ReadNVMe(ctx context.Context, dev NVMeDevice, nsid uint32) (*NVMeHealth, error) {
	buf := make([]byte, nvmeIdentifyLen)
	if _, err := dev.AdminCommand(ctx, NVMeAdminCmd{Opcode: NVMeOpIdentify, CDW10: nvmeCNSController}, buf); err != nil {
		return nil, fmt.Errorf("smart: NVMe Identify Controller: %w", err)
	}
	c, err := DecodeNVMeController(buf)
	if err != nil {
		return nil, err
	}
	h := &NVMeHealth{Controller: *c}
	if nsid != 0 && nsid != nvmeNSIDAll {
		ns := make([]byte, nvmeIdentifyLen)
		_, err := dev.AdminCommand(ctx, NVMeAdminCmd{Opcode: NVMeOpIdentify, NSID: nsid, CDW10: nvmeCNSNamespace}, ns)
		var se *NVMeStatusError
		switch {
		case errors.As(err, &se):
			// Capacity stays unknown; health matters more.
		case err != nil:
			return nil, fmt.Errorf("smart: NVMe Identify Namespace %d: %w", nsid, err)
		default:
			n, err := DecodeNVMeNamespace(ns)
			if err != nil {
				return nil, err
			}
			n.NSID = nsid
			h.Namespace = n
		}
	}
	logBuf := make([]byte, nvmeHealthLen)
	cmd := NVMeAdminCmd{Opcode: NVMeOpGetLogPage, NSID: nvmeNSIDAll, CDW10: nvmeHealthNUMDL<<16 | nvmeLogHealth}
	if _, err := dev.AdminCommand(ctx, cmd, logBuf); err != nil {
		return nil, fmt.Errorf("smart: NVMe Get Log Page SMART/Health: %w", err)
	}
	l, err := DecodeHealthLog(logBuf)
	if err != nil {
		return nil, err
	}
	h.Log = *l
	return h, nil
}

// asciiString trims an NVMe ASCII field (space or NUL padded) and maps
// non-printable bytes to '?'.
func asciiString(b []byte) string {
	s := []byte(strings.Trim(string(b), " \x00"))
	for i, c := range s {
		if c < 0x20 || c > 0x7E {
			s[i] = '?'
		}
	}
	return string(s)
}

package smart

import (
	"encoding/binary"
	"fmt"
)

// SMART data structure layout (SFF-8035i / ATA-8 ACS SMART READ DATA).
const (
	smartPageLen   = 512
	smartSlots     = 30
	smartSlotLen   = 12
	smartSlotStart = 2
)

// Attribute is one entry of the SMART attribute table.
type Attribute struct {
	ID    uint8  `json:"id"`
	Flags uint16 `json:"flags"` // bit 0 pre-failure, 1 online, 2 performance, 3 error rate, 4 event count, 5 self-preserving
	Value uint8  `json:"value"` // normalized current value
	Worst uint8  `json:"worst"`
	Raw   uint64 `json:"raw"` // the 48-bit raw value, little endian in bytes 5-10

	slot int // table position, for the threshold lookup
}

// PreFail reports the pre-failure flag: crossing the threshold predicts
// imminent failure (otherwise the attribute is "old age").
func (a Attribute) PreFail() bool { return a.Flags&0x0001 != 0 }

// Online reports that the attribute is updated during normal operation.
func (a Attribute) Online() bool { return a.Flags&0x0002 != 0 }

// Name is smartctl's default name for the attribute id
// ("Unknown_Attribute" when it has none).
func (a Attribute) Name() string { return AttributeName(a.ID) }

// RawCount is the raw value as smartctl prints it by default, its first
// number: the low 16 bits for 3 (raw16(avg16)), 5 and 196 (raw16(raw16));
// the low 24 bits for 9 (raw24(raw8), hours); the low byte for 190 and
// 194 (tempminmax, °C); the whole 48 bits otherwise.
func (a Attribute) RawCount() uint64 {
	switch a.ID {
	case 3, 5, 196:
		return a.Raw & 0xFFFF
	case 9:
		return a.Raw & 0xFFFFFF
	case 190, 194:
		return a.Raw & 0xFF
	}
	return a.Raw
}

// SMARTData is the decoded SMART READ DATA page.
type SMARTData struct {
	Revision   uint16      `json:"revision"`
	Attributes []Attribute `json:"attributes"` // table order, empty slots (id 0) skipped
	// OfflineStatus (byte 362) and SelfTestStatus (byte 363, high nibble
	// the result of the last self-test, low nibble percent remaining / 10).
	OfflineStatus  uint8  `json:"offline_status"`
	SelfTestStatus uint8  `json:"self_test_status"`
	OfflineSeconds uint16 `json:"offline_seconds"`    // 364-365
	OfflineCap     uint8  `json:"offline_capability"` // 367
	Capability     uint16 `json:"capability"`         // 368-369
	ErrorLogging   uint8  `json:"error_logging"`      // 370 bit 0
	// Polling times in minutes (372, 373 or 375-376 when 373 is 0xFF, 374).
	ShortTestMinutes      uint8  `json:"short_test_minutes"`
	ExtendedTestMinutes   uint16 `json:"extended_test_minutes"`
	ConveyanceTestMinutes uint8  `json:"conveyance_test_minutes"`
}

// Attribute returns the first attribute with the id.
func (d *SMARTData) Attribute(id uint8) (Attribute, bool) {
	for _, a := range d.Attributes {
		if a.ID == id {
			return a, true
		}
	}
	return Attribute{}, false
}

// DecodeSMARTData parses the 512-byte SMART READ DATA page (extra bytes
// ignored). The page's bytes must sum to zero modulo 256 (ErrBadChecksum)
// and must not be all zero (ErrMalformed: nothing was transferred).
func DecodeSMARTData(b []byte) (*SMARTData, error) {
	if err := checkPage(b); err != nil {
		return nil, fmt.Errorf("smart: decode SMART data: %w", err)
	}
	le := binary.LittleEndian
	d := &SMARTData{
		Revision:              le.Uint16(b[0:]),
		OfflineStatus:         b[362],
		SelfTestStatus:        b[363],
		OfflineSeconds:        le.Uint16(b[364:]),
		OfflineCap:            b[367],
		Capability:            le.Uint16(b[368:]),
		ErrorLogging:          b[370],
		ShortTestMinutes:      b[372],
		ExtendedTestMinutes:   uint16(b[373]),
		ConveyanceTestMinutes: b[374],
	}
	if b[373] == 0xFF {
		d.ExtendedTestMinutes = le.Uint16(b[375:])
	}
	for i := 0; i < smartSlots; i++ {
		e := b[smartSlotStart+i*smartSlotLen:][:smartSlotLen]
		if e[0] == 0 {
			continue
		}
		d.Attributes = append(d.Attributes, Attribute{
			ID:    e[0],
			Flags: le.Uint16(e[1:]),
			Value: e[3],
			Worst: e[4],
			Raw:   uint64(e[5]) | uint64(e[6])<<8 | uint64(e[7])<<16 | uint64(e[8])<<24 | uint64(e[9])<<32 | uint64(e[10])<<40,
			slot:  i,
		})
	}
	return d, nil
}

// Threshold is one entry of the SMART threshold table.
type Threshold struct {
	ID    uint8 `json:"id"`
	Value uint8 `json:"value"`

	slot int
}

// Thresholds is the decoded SMART READ THRESHOLDS page.
type Thresholds struct {
	Revision uint16      `json:"revision"`
	Entries  []Threshold `json:"entries"` // table order, empty slots skipped
}

// DecodeThresholds parses the 512-byte SMART READ THRESHOLDS page (extra
// bytes ignored), with the checks of DecodeSMARTData.
func DecodeThresholds(b []byte) (*Thresholds, error) {
	if err := checkPage(b); err != nil {
		return nil, fmt.Errorf("smart: decode SMART thresholds: %w", err)
	}
	t := &Thresholds{Revision: binary.LittleEndian.Uint16(b[0:])}
	for i := 0; i < smartSlots; i++ {
		e := b[smartSlotStart+i*smartSlotLen:]
		if e[0] == 0 {
			continue
		}
		t.Entries = append(t.Entries, Threshold{ID: e[0], Value: e[1], slot: i})
	}
	return t, nil
}

// For returns the threshold of a as smartctl finds it: the entry in the
// same table slot when its id matches, else the first entry with the id.
func (t *Thresholds) For(a Attribute) (uint8, bool) {
	if t == nil {
		return 0, false
	}
	for _, e := range t.Entries {
		if e.slot == a.slot && e.ID == a.ID {
			return e.Value, true
		}
	}
	for _, e := range t.Entries {
		if e.ID == a.ID {
			return e.Value, true
		}
	}
	return 0, false
}

func checkPage(b []byte) error {
	if len(b) < smartPageLen {
		return fmt.Errorf("%d bytes, need %d: %w", len(b), smartPageLen, ErrTruncated)
	}
	if s := sum8(b[:smartPageLen]); s != 0 {
		return fmt.Errorf("checksum byte %#02x, sum %#02x: %w", b[smartPageLen-1], s, ErrBadChecksum)
	}
	for _, c := range b[:smartPageLen] {
		if c != 0 {
			return nil
		}
	}
	// Sums to zero, but no device sends this: a transfer that moved nothing.
	return fmt.Errorf("all zero: %w", ErrMalformed)
}

// AttrState is an attribute judged against its threshold.
type AttrState string

const (
	// AttrOK: above a non-zero threshold, now and at its worst, or the
	// threshold is 0 ("always passing").
	AttrOK AttrState = "ok"
	// AttrNoThreshold: no threshold entry for the id (or none read).
	AttrNoThreshold AttrState = "no_threshold"
	// AttrFailingNow: value ≤ a non-zero threshold.
	AttrFailingNow AttrState = "failing_now"
	// AttrFailedPast: worst ≤ a non-zero threshold, value above it.
	AttrFailedPast AttrState = "failed_past"
)

// State judges a against thresholds the way smartctl does.
func State(a Attribute, t *Thresholds) (AttrState, uint8) {
	th, ok := t.For(a)
	switch {
	case !ok:
		return AttrNoThreshold, 0
	case th == 0:
		return AttrOK, 0
	case a.Value <= th:
		return AttrFailingNow, th
	case a.Worst <= th:
		return AttrFailedPast, th
	}
	return AttrOK, th
}

// Attribute ids the health verdict and report use.
const (
	AttrReallocatedSectors   = 5
	AttrPowerOnHours         = 9
	AttrPowerCycleCount      = 12
	AttrReportedUncorrect    = 187
	AttrCommandTimeout       = 188
	AttrAirflowTemperature   = 190
	AttrTemperature          = 194
	AttrCurrentPending       = 197
	AttrOfflineUncorrectable = 198
	AttrUDMACRCErrors        = 199
)

// AttributeName is smartctl's default name for an attribute id (its
// built-in defaults, before any drive database entry), or
// "Unknown_Attribute".
func AttributeName(id uint8) string {
	switch id {
	case 1:
		return "Raw_Read_Error_Rate"
	case 2:
		return "Throughput_Performance"
	case 3:
		return "Spin_Up_Time"
	case 4:
		return "Start_Stop_Count"
	case 5:
		return "Reallocated_Sector_Ct"
	case 6:
		return "Read_Channel_Margin"
	case 7:
		return "Seek_Error_Rate"
	case 8:
		return "Seek_Time_Performance"
	case 9:
		return "Power_On_Hours"
	case 10:
		return "Spin_Retry_Count"
	case 11:
		return "Calibration_Retry_Count"
	case 12:
		return "Power_Cycle_Count"
	case 13:
		return "Read_Soft_Error_Rate"
	case 175:
		return "Program_Fail_Count_Chip"
	case 176:
		return "Erase_Fail_Count_Chip"
	case 177:
		return "Wear_Leveling_Count"
	case 178:
		return "Used_Rsvd_Blk_Cnt_Chip"
	case 179:
		return "Used_Rsvd_Blk_Cnt_Tot"
	case 180:
		return "Unused_Rsvd_Blk_Cnt_Tot"
	case 181:
		return "Program_Fail_Cnt_Total"
	case 182:
		return "Erase_Fail_Count_Total"
	case 183:
		return "Runtime_Bad_Block"
	case 184:
		return "End-to-End_Error"
	case 187:
		return "Reported_Uncorrect"
	case 188:
		return "Command_Timeout"
	case 189:
		return "High_Fly_Writes"
	case 190:
		return "Airflow_Temperature_Cel"
	case 191:
		return "G-Sense_Error_Rate"
	case 192:
		return "Power-Off_Retract_Count"
	case 193:
		return "Load_Cycle_Count"
	case 194:
		return "Temperature_Celsius"
	case 195:
		return "Hardware_ECC_Recovered"
	case 196:
		return "Reallocated_Event_Count"
	case 197:
		return "Current_Pending_Sector"
	case 198:
		return "Offline_Uncorrectable"
	case 199:
		return "UDMA_CRC_Error_Count"
	case 200:
		return "Multi_Zone_Error_Rate"
	case 201:
		return "Soft_Read_Error_Rate"
	case 202:
		return "Data_Address_Mark_Errs"
	case 203:
		return "Run_Out_Cancel"
	case 204:
		return "Soft_ECC_Correction"
	case 205:
		return "Thermal_Asperity_Rate"
	case 206:
		return "Flying_Height"
	case 207:
		return "Spin_High_Current"
	case 208:
		return "Spin_Buzz"
	case 209:
		return "Offline_Seek_Performnce"
	case 220:
		return "Disk_Shift"
	case 221:
		return "G-Sense_Error_Rate"
	case 222:
		return "Loaded_Hours"
	case 223:
		return "Load_Retry_Count"
	case 224:
		return "Load_Friction"
	case 225:
		return "Load_Cycle_Count"
	case 226:
		return "Load-in_Time"
	case 227:
		return "Torq-amp_Count"
	case 228:
		return "Power-off_Retract_Count"
	case 230:
		return "Head_Amplitude"
	case 231:
		return "Temperature_Celsius"
	case 232:
		return "Available_Reservd_Space"
	case 233:
		return "Media_Wearout_Indicator"
	case 240:
		return "Head_Flying_Hours"
	case 241:
		return "Total_LBAs_Written"
	case 242:
		return "Total_LBAs_Read"
	case 250:
		return "Read_Error_Retry_Rate"
	case 254:
		return "Free_Fall_Sensor"
	}
	return "Unknown_Attribute"
}

// Temperature is the drive temperature in °C from attribute 194, else
// 190: the low raw byte (tempminmax), taken when it is 1..127.
func (d *SMARTData) Temperature() (int, bool) {
	for _, id := range []uint8{AttrTemperature, AttrAirflowTemperature} {
		if a, ok := d.Attribute(id); ok {
			if t := a.RawCount(); t > 0 && t < 128 {
				return int(t), true
			}
		}
	}
	return 0, false
}

// PowerOnHours is attribute 9's RawCount (the low 24 bits).
func (d *SMARTData) PowerOnHours() (uint64, bool) {
	if a, ok := d.Attribute(AttrPowerOnHours); ok {
		return a.RawCount(), true
	}
	return 0, false
}

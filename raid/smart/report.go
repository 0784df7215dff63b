package smart

// Protocol is how a disk's health was read.
type Protocol string

const (
	ProtocolATA  Protocol = "ata"
	ProtocolNVMe Protocol = "nvme"
)

// Report is one disk's identity and health, as `keep ctl disks` and the
// monitoring hub see it.
type Report struct {
	Device   string   `json:"device"` // the node read, e.g. /dev/sda
	Protocol Protocol `json:"protocol"`
	Model    string   `json:"model"`
	Serial   string   `json:"serial"`
	Firmware string   `json:"firmware"`
	WWN      string   `json:"wwn,omitempty"` // ATA: "0x5000c500a1b2c3d4"
	// CapacityBytes: ATA sectors × logical sector size; NVMe namespace
	// size × block size, else the controller's total NVM capacity; 0 when
	// unknown.
	CapacityBytes uint64 `json:"capacity_bytes,omitempty"`
	SSD           bool   `json:"ssd"`                    // NVMe, or ATA word 217 = 1
	RotationRPM   uint16 `json:"rotation_rpm,omitempty"` // ATA HDDs that report it
	SMARTEnabled  bool   `json:"smart_enabled"`
	// SMARTStatus is the ATA device's own verdict (RETURN STATUS); empty
	// for NVMe, whose equivalent is the critical warning.
	SMARTStatus SMARTStatus `json:"smart_status,omitempty"`

	Verdict Verdict  `json:"verdict"`
	Reasons []Reason `json:"reasons,omitempty"`

	TemperatureC *int    `json:"temperature_c,omitempty"`
	PowerOnHours *uint64 `json:"power_on_hours,omitempty"`

	// Attributes is the whole ATA attribute table with thresholds.
	Attributes []AttributeReport `json:"attributes,omitempty"`
	// NVMe is the whole SMART / Health log.
	NVMe *HealthLog `json:"nvme,omitempty"`
}

// AttributeReport is an ATA attribute judged against its threshold.
type AttributeReport struct {
	ID        uint8     `json:"id"`
	Name      string    `json:"name"`
	PreFail   bool      `json:"prefail"`
	Flags     uint16    `json:"flags"`
	Value     uint8     `json:"value"`
	Worst     uint8     `json:"worst"`
	Threshold uint8     `json:"threshold"`
	Raw       uint64    `json:"raw"`       // all 48 bits
	RawCount  uint64    `json:"raw_count"` // smartctl's first number (Attribute.RawCount)
	State     AttrState `json:"state"`
}

// ATAReport builds the report of an ATA disk read from device.
func ATAReport(device string, h *ATAHealth, p Policy) *Report {
	id := &h.Identity
	r := &Report{
		Device:        device,
		Protocol:      ProtocolATA,
		Model:         id.Model,
		Serial:        id.Serial,
		Firmware:      id.Firmware,
		WWN:           id.WWNString(),
		CapacityBytes: id.CapacityBytes(),
		SSD:           id.SSD(),
		RotationRPM:   id.RPM(),
		SMARTEnabled:  id.SMARTEnabled,
		SMARTStatus:   h.Status,
	}
	r.Verdict, r.Reasons = p.EvaluateATA(h)
	if h.Data != nil {
		if t, ok := h.Data.Temperature(); ok {
			r.TemperatureC = &t
		}
		if n, ok := h.Data.PowerOnHours(); ok {
			r.PowerOnHours = &n
		}
		for _, a := range h.Data.Attributes {
			st, th := State(a, h.Thresholds)
			r.Attributes = append(r.Attributes, AttributeReport{
				ID: a.ID, Name: a.Name(), PreFail: a.PreFail(), Flags: a.Flags,
				Value: a.Value, Worst: a.Worst, Threshold: th,
				Raw: a.Raw, RawCount: a.RawCount(), State: st,
			})
		}
	}
	return r
}

// NVMeReport builds the report of an NVMe disk read from device.
func NVMeReport(device string, h *NVMeHealth, p Policy) *Report {
	c := &h.Controller
	r := &Report{
		Device:       device,
		Protocol:     ProtocolNVMe,
		Model:        c.Model,
		Serial:       c.Serial,
		Firmware:     c.Firmware,
		SSD:          true,
		SMARTEnabled: true,
	}
	if h.Namespace != nil && h.Namespace.BlockSize != 0 {
		r.CapacityBytes = h.Namespace.CapacityBytes()
	} else if n, ok := c.TotalCapacity.Uint64(); ok {
		r.CapacityBytes = n
	}
	r.Verdict, r.Reasons = p.EvaluateNVMe(h)
	if t, ok := h.Log.TemperatureC(); ok {
		r.TemperatureC = &t
	}
	if n, ok := h.Log.PowerOnHours.Uint64(); ok {
		r.PowerOnHours = &n
	}
	l := h.Log
	r.NVMe = &l
	return r
}

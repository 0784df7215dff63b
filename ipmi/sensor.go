package ipmi

import (
	"context"
	"fmt"
)

// Sensor commands (netfn Sensor/Event).
const (
	cmdGetSensorThresholds = 0x27
	cmdGetSensorReading    = 0x2d
)

// Reading is the answer to Get Sensor Reading.
type Reading struct {
	Raw             byte
	EventsEnabled   bool // bit 7 of byte 2
	ScanningEnabled bool // bit 6
	Unavailable     bool // bit 5: reading/state unavailable
	// States: for threshold sensors bits 0-5 are "at or beyond" lnc, lcr,
	// lnr, unc, ucr, unr (see Beyond); for discrete sensors the asserted
	// state bits 0-14.
	States uint16
}

// Beyond reports whether a threshold sensor is at or past threshold t.
func (r Reading) Beyond(t Threshold) bool { return ThresholdMask(r.States & 0x3f).Has(t) }

// Valid reports whether Raw means anything: scanning on and available.
func (r Reading) Valid() bool { return r.ScanningEnabled && !r.Unavailable }

// GetSensorReading reads sensor number n (on the BMC, LUN 0).
func (c *Client) GetSensorReading(ctx context.Context, n byte) (Reading, error) {
	r, err := c.call(ctx, NetFnSensorEvent, cmdGetSensorReading, []byte{n}, 2)
	if err != nil {
		return Reading{}, fmt.Errorf("get sensor reading %#02x: %w", n, err)
	}
	rd := Reading{
		Raw:             r[0],
		EventsEnabled:   r[1]&0x80 != 0,
		ScanningEnabled: r[1]&0x40 != 0,
		Unavailable:     r[1]&0x20 != 0,
	}
	if len(r) > 2 {
		rd.States = uint16(r[2])
	}
	if len(r) > 3 {
		rd.States |= uint16(r[3]&0x7f) << 8
	}
	return rd, nil
}

// SensorThresholds is the answer to Get Sensor Thresholds: raw values,
// meaningful only where Readable has the bit.
type SensorThresholds struct {
	Readable ThresholdMask
	Raw      [numThresholds]byte
}

// GetSensorThresholds reads the thresholds of sensor n.
func (c *Client) GetSensorThresholds(ctx context.Context, n byte) (SensorThresholds, error) {
	r, err := c.call(ctx, NetFnSensorEvent, cmdGetSensorThresholds, []byte{n}, 7)
	if err != nil {
		return SensorThresholds{}, fmt.Errorf("get sensor thresholds %#02x: %w", n, err)
	}
	t := SensorThresholds{Readable: ThresholdMask(r[0] & 0x3f)}
	copy(t.Raw[:], r[1:7])
	return t, nil
}

// SensorValue is a converted reading.
type SensorValue struct {
	Sensor  SensorRecord
	Reading Reading
	// Value is set when the sensor is analog and the reading valid.
	Value    float64
	HasValue bool
	// Status: "ok", the worst threshold crossed ("ucr", "lnr", …),
	// "na" when unavailable, "discrete" for non-threshold sensors.
	Status string
}

// worst first: non-recoverable, critical, non-critical.
var thresholdSeverity = [...]Threshold{UpperNonRecoverable, LowerNonRecoverable, UpperCritical, LowerCritical, UpperNonCritical, LowerNonCritical}

// Evaluate converts rd for sensor s.
func (s SensorRecord) Evaluate(rd Reading) SensorValue {
	v := SensorValue{Sensor: s, Reading: rd, Status: "ok"}
	switch {
	case !rd.Valid():
		v.Status = "na"
		return v
	case !s.EventType.Threshold():
		v.Status = "discrete"
	default:
		for _, t := range thresholdSeverity {
			if rd.Beyond(t) {
				v.Status = t.String()
				break
			}
		}
	}
	if s.Analog() {
		if f, err := s.Convert(rd.Raw); err == nil {
			v.Value, v.HasValue = f, true
		}
	}
	return v
}

// ReadSensor reads and converts the sensor described by s. Only sensors
// owned by the BMC (owner 0x20, LUN 0) are read.
func (c *Client) ReadSensor(ctx context.Context, s SensorRecord) (SensorValue, error) {
	if s.OwnerID != 0x20 || s.OwnerLUN != 0 {
		return SensorValue{}, fmt.Errorf("sensor %q: owner %#02x lun %d is not the BMC", s.Name, s.OwnerID, s.OwnerLUN)
	}
	rd, err := c.GetSensorReading(ctx, s.Number)
	if err != nil {
		return SensorValue{}, fmt.Errorf("sensor %q: %w", s.Name, err)
	}
	return s.Evaluate(rd), nil
}

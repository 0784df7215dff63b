package ipmi

import (
	"errors"
	"fmt"
)

// MarshalBinary encodes a full or compact sensor record. RecordID is
// written as given (QEMU renumbers records from 0 when it loads an
// sdrfile); Version 0 becomes 0x51. The id string is 8-bit ASCII.
func (s SensorRecord) MarshalBinary() ([]byte, error) {
	name, err := encodeTL(s.Name, sdrIDMax)
	if err != nil {
		return nil, fmt.Errorf("sensor %d id string: %w", s.Number, err)
	}
	var b []byte
	switch s.Type {
	case SDRFullSensor:
		b = make([]byte, fullFixedSize-1, fullFixedSize-1+len(name))
	case SDRCompactSensor:
		b = make([]byte, compFixedSize-1, compFixedSize-1+len(name))
	default:
		return nil, fmt.Errorf("sensor %d: record type %#02x is not a sensor record", s.Number, byte(s.Type))
	}
	if s.EventType > 0x7f || s.OwnerLUN > 3 || s.Channel > 15 {
		return nil, fmt.Errorf("sensor %d: event type, LUN or channel out of range", s.Number)
	}
	ver := s.Version
	if ver == 0 {
		ver = sdrVersion
	}
	b[0], b[1], b[2], b[3] = byte(s.RecordID), byte(s.RecordID>>8), ver, byte(s.Type)
	b[5], b[6], b[7] = s.OwnerID, s.Channel<<4|s.OwnerLUN, s.Number
	b[8], b[9], b[10], b[11] = s.EntityID, s.EntityInstance, s.Init, s.Capabilities
	b[12], b[13] = byte(s.SensorType), byte(s.EventType)
	putLE16(b[14:], s.AssertMask)
	putLE16(b[16:], s.DeassertMask)
	putLE16(b[18:], s.ReadingMask)
	u := s.Units
	if u.Rate > 7 || u.ModifierOp > 3 {
		return nil, fmt.Errorf("sensor %d: unit rate or modifier out of range", s.Number)
	}
	b[20] = u.Rate<<3 | u.ModifierOp<<1
	if u.Percentage {
		b[20] |= 1
	}
	b[21], b[22] = byte(u.Base), byte(u.Modifier)
	if s.Type == SDRFullSensor {
		f := s.Factors
		if err := f.check(); err != nil {
			return nil, fmt.Errorf("sensor %d: %w", s.Number, err)
		}
		b[20] |= byte(f.Format) << 6
		b[23] = byte(f.Linearization)
		b[24], b[25] = byte(f.M), byte(uint16(f.M)>>8&3)<<6|f.Tolerance
		b[26], b[27] = byte(f.B), byte(uint16(f.B)>>8&3)<<6|byte(f.Accuracy&0x3f)
		b[28] = byte(f.Accuracy>>6)<<4 | f.AccuracyExp<<2
		b[29] = byte(f.K2)<<4 | byte(f.K1)&0x0f
		b[30], b[31], b[32], b[33] = s.AnalogFlags, s.Nominal, s.NormalMax, s.NormalMin
		b[34], b[35] = s.SensorMax, s.SensorMin
		b[36] = s.Thresholds[UpperNonRecoverable]
		b[37] = s.Thresholds[UpperCritical]
		b[38] = s.Thresholds[UpperNonCritical]
		b[39] = s.Thresholds[LowerNonRecoverable]
		b[40] = s.Thresholds[LowerCritical]
		b[41] = s.Thresholds[LowerNonCritical]
		b[42], b[43], b[46] = s.HysteresisPos, s.HysteresisNeg, s.OEM
	} else {
		b[25], b[26], b[30] = s.HysteresisPos, s.HysteresisNeg, s.OEM
	}
	b = append(b, name...)
	b[4] = byte(len(b) - sdrHeaderSize)
	return b, nil
}

func (f Factors) check() error {
	switch {
	case f.M < -512 || f.M > 511:
		return fmt.Errorf("M %d outside 10-bit range", f.M)
	case f.B < -512 || f.B > 511:
		return fmt.Errorf("B %d outside 10-bit range", f.B)
	case f.K1 < -8 || f.K1 > 7 || f.K2 < -8 || f.K2 > 7:
		return errors.New("K1/K2 outside 4-bit range")
	case f.Format > AnalogNone || f.Linearization > 0x7f || f.Tolerance > 0x3f || f.Accuracy > 0x3ff || f.AccuracyExp > 3:
		return errors.New("format, linearization, tolerance or accuracy out of range")
	}
	return nil
}

// EncodeSDRFile concatenates records in the form QEMU's ipmi-bmc-sim
// loads from its sdrfile property (and a repository dump uses). QEMU
// overwrites record ids (from 0) and versions; only compact records with
// sensor numbers below 20 become sensors there (Get Sensor Reading), and
// the file replaces the built-in watchdog SDR.
func EncodeSDRFile(records []SensorRecord) ([]byte, error) {
	var out []byte
	for i, r := range records {
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("SDR %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

func putLE16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }

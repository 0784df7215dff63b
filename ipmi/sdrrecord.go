package ipmi

import (
	"errors"
	"fmt"
)

// SDRType is the record type byte of an SDR.
type SDRType byte

// SDR record types decoded here; others are kept raw.
const (
	SDRFullSensor    SDRType = 0x01
	SDRCompactSensor SDRType = 0x02
)

const (
	sdrHeaderSize = 5
	fullFixedSize = 48 // bytes before the id string
	compFixedSize = 32
	sdrIDMax      = 16
	sdrVersion    = 0x51
	sdrMaxRecord  = sdrHeaderSize + 255
)

// ErrSDRShort means a record is shorter than its header or type needs.
var ErrSDRShort = errors.New("ipmi: SDR record too short")

// AnalogFormat says how a full sensor's raw reading is signed.
type AnalogFormat byte

// Analog data formats (sensor units 1, bits 7:6).
const (
	AnalogUnsigned       AnalogFormat = 0
	AnalogOnesComplement AnalogFormat = 1
	AnalogTwosComplement AnalogFormat = 2
	AnalogNone           AnalogFormat = 3 // no analog reading
)

// Linearization is the function L in y = L[(M*x + B*10^K1) * 10^K2].
type Linearization byte

// Linearization functions; 0x70-0x7f are OEM non-linear.
const (
	LinearLinear Linearization = iota
	LinearLn
	LinearLog10
	LinearLog2
	LinearE
	LinearExp10
	LinearExp2
	LinearInverse
	LinearSqr
	LinearCube
	LinearSqrt
	LinearCubeRoot
)

// Threshold indexes Thresholds and the threshold masks.
type Threshold int

// Thresholds in mask bit order.
const (
	LowerNonCritical Threshold = iota
	LowerCritical
	LowerNonRecoverable
	UpperNonCritical
	UpperCritical
	UpperNonRecoverable
	numThresholds
)

var thresholdNames = [...]string{"lnc", "lcr", "lnr", "unc", "ucr", "unr"}

func (t Threshold) String() string {
	if t >= 0 && t < numThresholds {
		return thresholdNames[t]
	}
	return fmt.Sprintf("threshold(%d)", int(t))
}

// ThresholdMask has bit t set for threshold t.
type ThresholdMask byte

// Has reports whether t is in the mask.
func (m ThresholdMask) Has(t Threshold) bool { return t >= 0 && t < numThresholds && m&(1<<t) != 0 }

// Factors are the conversion factors of a full sensor record.
type Factors struct {
	M, B          int16 // 10-bit two's complement
	K1, K2        int8  // 4-bit two's complement: B exponent, result exponent
	Linearization Linearization
	Format        AnalogFormat
	Tolerance     byte   // 6 bits, in ±½ raw counts
	Accuracy      uint16 // 10 bits, in 0.01% units
	AccuracyExp   byte
}

// SensorRecord is a decoded Full (type 0x01) or Compact (type 0x02)
// sensor record. Fields marked "full only" are zero for compact records.
type SensorRecord struct {
	RecordID uint16
	Version  byte
	Type     SDRType

	OwnerID        byte // slave address (bit 0 clear) or software id
	OwnerLUN       byte // bits 1:0
	Channel        byte // bits 7:4 of the owner LUN byte
	Number         byte
	EntityID       byte
	EntityInstance byte // bit 7: logical container
	Init           byte // sensor initialization bits
	Capabilities   byte
	SensorType     SensorType
	EventType      EventType // event/reading type code

	AssertMask   uint16
	DeassertMask uint16
	// ReadingMask is the discrete reading mask, or for threshold sensors
	// readable (low byte) and settable (high byte) thresholds.
	ReadingMask uint16

	Units Units

	// Full only.
	Factors       Factors
	AnalogFlags   byte // bit0 nominal, bit1 normal max, bit2 normal min specified
	Nominal       byte
	NormalMax     byte
	NormalMin     byte
	SensorMax     byte
	SensorMin     byte
	Thresholds    [numThresholds]byte // raw values, indexed by Threshold
	HysteresisPos byte
	HysteresisNeg byte
	OEM           byte

	Name string
}

// Readable is the set of thresholds the sensor can report.
func (s SensorRecord) Readable() ThresholdMask {
	if !s.EventType.Threshold() {
		return 0
	}
	return ThresholdMask(s.ReadingMask & 0x3f)
}

// Settable is the set of thresholds that can be set.
func (s SensorRecord) Settable() ThresholdMask {
	if !s.EventType.Threshold() {
		return 0
	}
	return ThresholdMask(s.ReadingMask >> 8 & 0x3f)
}

// Analog reports whether readings convert to numbers (full record,
// analog format not "none", linear or known linearization).
func (s SensorRecord) Analog() bool {
	return s.Type == SDRFullSensor && s.Factors.Format != AnalogNone && s.Factors.Linearization <= LinearCubeRoot
}

// SDR is one repository record: the header, and the decoded sensor for
// full and compact records. Body holds the bytes after the header.
type SDR struct {
	RecordID uint16
	Version  byte
	Type     SDRType
	Sensor   *SensorRecord
	Body     []byte
}

// sdrLength returns the total length of the record starting at b.
func sdrLength(b []byte) (int, error) {
	if len(b) < sdrHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrSDRShort, len(b), sdrHeaderSize)
	}
	return sdrHeaderSize + int(b[4]), nil
}

// DecodeSDR decodes one record; b must hold at least the length the
// header states (extra bytes are ignored). Full and compact sensor
// records are decoded into Sensor; other types keep only the header and
// Body.
func DecodeSDR(b []byte) (SDR, error) {
	n, err := sdrLength(b)
	if err != nil {
		return SDR{}, err
	}
	if len(b) < n {
		return SDR{}, fmt.Errorf("%w: header says %d bytes, have %d", ErrSDRShort, n, len(b))
	}
	b = b[:n]
	r := SDR{RecordID: u16(b), Version: b[2], Type: SDRType(b[3]), Body: append([]byte(nil), b[sdrHeaderSize:]...)}
	switch r.Type {
	case SDRFullSensor, SDRCompactSensor:
		s, err := decodeSensor(b)
		if err != nil {
			return SDR{}, fmt.Errorf("SDR %#04x: %w", r.RecordID, err)
		}
		r.Sensor = &s
	}
	return r, nil
}

// DecodeSDRs splits concatenated records (the form of QEMU's sdrfile and
// of a repository dump) and decodes each.
func DecodeSDRs(b []byte) ([]SDR, error) {
	var out []SDR
	for len(b) > 0 {
		n, err := sdrLength(b)
		if err != nil {
			return out, err
		}
		r, err := DecodeSDR(b)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		b = b[n:]
	}
	return out, nil
}

func sign10(lo, hi byte) int16 {
	v := int16(lo) | int16(hi>>6)<<8
	if v&0x200 != 0 {
		v -= 0x400
	}
	return v
}

func sign4(v byte) int8 {
	v &= 0x0f
	if v&0x08 != 0 {
		return int8(v) - 16
	}
	return int8(v)
}

func decodeSensor(b []byte) (SensorRecord, error) {
	typ := SDRType(b[3])
	fixed := compFixedSize
	if typ == SDRFullSensor {
		fixed = fullFixedSize
	}
	if len(b) < fixed {
		return SensorRecord{}, fmt.Errorf("%w: type %#02x needs %d bytes, have %d", ErrSDRShort, byte(typ), fixed, len(b))
	}
	s := SensorRecord{
		RecordID:       u16(b),
		Version:        b[2],
		Type:           typ,
		OwnerID:        b[5],
		OwnerLUN:       b[6] & 0x03,
		Channel:        b[6] >> 4,
		Number:         b[7],
		EntityID:       b[8],
		EntityInstance: b[9],
		Init:           b[10],
		Capabilities:   b[11],
		SensorType:     SensorType(b[12]),
		EventType:      EventType(b[13]),
		AssertMask:     u16(b[14:]),
		DeassertMask:   u16(b[16:]),
		ReadingMask:    u16(b[18:]),
		Units: Units{
			Rate:       b[20] >> 3 & 0x07,
			ModifierOp: b[20] >> 1 & 0x03,
			Percentage: b[20]&0x01 != 0,
			Base:       Unit(b[21]),
			Modifier:   Unit(b[22]),
		},
	}
	idAt := compFixedSize - 1
	if typ == SDRFullSensor {
		idAt = fullFixedSize - 1
		s.Factors = Factors{
			Format:        AnalogFormat(b[20] >> 6),
			Linearization: Linearization(b[23] & 0x7f),
			M:             sign10(b[24], b[25]),
			Tolerance:     b[25] & 0x3f,
			B:             sign10(b[26], b[27]),
			Accuracy:      uint16(b[27]&0x3f) | uint16(b[28]>>4)<<6,
			AccuracyExp:   b[28] >> 2 & 0x03,
			K2:            sign4(b[29] >> 4),
			K1:            sign4(b[29]),
		}
		s.AnalogFlags = b[30]
		s.Nominal, s.NormalMax, s.NormalMin = b[31], b[32], b[33]
		s.SensorMax, s.SensorMin = b[34], b[35]
		s.Thresholds[UpperNonRecoverable] = b[36]
		s.Thresholds[UpperCritical] = b[37]
		s.Thresholds[UpperNonCritical] = b[38]
		s.Thresholds[LowerNonRecoverable] = b[39]
		s.Thresholds[LowerCritical] = b[40]
		s.Thresholds[LowerNonCritical] = b[41]
		s.HysteresisPos, s.HysteresisNeg = b[42], b[43]
		s.OEM = b[46]
	} else {
		s.Factors.Format = AnalogNone
		s.HysteresisPos, s.HysteresisNeg = b[25], b[26]
		s.OEM = b[30]
	}
	name, _, err := decodeTL(b[idAt:], 0x1f)
	if err != nil {
		return SensorRecord{}, fmt.Errorf("id string: %w", err)
	}
	s.Name = name
	return s, nil
}

package ipmi

import (
	"errors"
	"fmt"
	"math"
)

// ErrNotAnalog means a sensor's readings do not convert to numbers
// (compact record, analog format "none", or OEM linearization).
var ErrNotAnalog = errors.New("ipmi: sensor has no analog conversion")

// rawValue interprets the raw byte per the analog data format.
func (f Factors) rawValue(x byte) float64 {
	switch f.Format {
	case AnalogOnesComplement:
		if x&0x80 != 0 {
			return -float64(^x & 0x7f)
		}
		return float64(x)
	case AnalogTwosComplement:
		return float64(int8(x))
	}
	return float64(x)
}

// Convert applies y = L[(M*x + B*10^K1) * 10^K2] to the raw value x.
func (f Factors) Convert(x byte) (float64, error) {
	v := (float64(f.M)*f.rawValue(x) + float64(f.B)*math.Pow10(int(f.K1))) * math.Pow10(int(f.K2))
	switch f.Linearization {
	case LinearLinear:
		return v, nil
	case LinearLn:
		return math.Log(v), nil
	case LinearLog10:
		return math.Log10(v), nil
	case LinearLog2:
		return math.Log2(v), nil
	case LinearE:
		return math.Exp(v), nil
	case LinearExp10:
		return math.Pow(10, v), nil
	case LinearExp2:
		return math.Exp2(v), nil
	case LinearInverse:
		if v == 0 {
			return math.Inf(1), nil
		}
		return 1 / v, nil
	case LinearSqr:
		return v * v, nil
	case LinearCube:
		return v * v * v, nil
	case LinearSqrt:
		return math.Sqrt(v), nil
	case LinearCubeRoot:
		return math.Cbrt(v), nil
	}
	return 0, fmt.Errorf("%w: linearization %#02x", ErrNotAnalog, byte(f.Linearization))
}

// Convert turns a raw reading of this sensor into a value in s.Units.
func (s SensorRecord) Convert(raw byte) (float64, error) {
	if !s.Analog() {
		return 0, fmt.Errorf("sensor %q: %w", s.Name, ErrNotAnalog)
	}
	return s.Factors.Convert(raw)
}

package ipmi

import "fmt"

// Unit is an IPMI sensor unit type code (IPMI 2.0 table 43-15).
type Unit byte

// Common units.
const (
	UnitUnspecified Unit = 0
	UnitCelsius     Unit = 1
	UnitFahrenheit  Unit = 2
	UnitKelvin      Unit = 3
	UnitVolts       Unit = 4
	UnitAmps        Unit = 5
	UnitWatts       Unit = 6
	UnitRPM         Unit = 18
)

var unitNames = [...]string{
	"unspecified", "degrees C", "degrees F", "degrees K", "Volts", "Amps", "Watts",
	"Joules", "Coulombs", "VA", "Nits", "lumen", "lux", "Candela", "kPa", "PSI",
	"Newton", "CFM", "RPM", "Hz", "microsecond", "millisecond", "second", "minute",
	"hour", "day", "week", "mil", "inches", "feet", "cu in", "cu feet", "mm", "cm",
	"m", "cu cm", "cu m", "liters", "fluid ounce", "radians", "steradians",
	"revolutions", "cycles", "gravities", "ounce", "pound", "ft-lb", "oz-in", "gauss",
	"gilberts", "henry", "millihenry", "farad", "microfarad", "ohms", "siemens",
	"mole", "becquerel", "PPM", "reserved", "Decibels", "DbA", "DbC", "gray",
	"sievert", "color temp deg K", "bit", "kilobit", "megabit", "gigabit", "byte",
	"kilobyte", "megabyte", "gigabyte", "word", "dword", "qword", "line", "hit",
	"miss", "retry", "reset", "overflow", "underrun", "collision", "packets",
	"messages", "characters", "error", "correctable error", "uncorrectable error",
	"fatal error", "grams",
}

func (u Unit) String() string {
	if int(u) < len(unitNames) {
		return unitNames[u]
	}
	return fmt.Sprintf("unit %d", byte(u))
}

// Units is the units block of a sensor record.
type Units struct {
	Base       Unit
	Modifier   Unit
	ModifierOp byte // 0 none, 1 Base/Modifier, 2 Base*Modifier
	Rate       byte // 0 none, 1 per µs … 6 per day
	Percentage bool
}

var rateNames = [...]string{"", "/us", "/ms", "/s", "/min", "/hr", "/day"}

func (u Units) String() string {
	s := u.Base.String()
	switch u.ModifierOp {
	case 1:
		s += "/" + u.Modifier.String()
	case 2:
		s += "*" + u.Modifier.String()
	}
	if int(u.Rate) < len(rateNames) {
		s += rateNames[u.Rate]
	}
	if u.Percentage {
		s = "% " + s
	}
	return s
}

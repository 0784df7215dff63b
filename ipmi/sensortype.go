package ipmi

import "fmt"

// SensorType is the IPMI sensor type code (IPMI 2.0 table 42-3).
type SensorType byte

// Sensor types with names; the full table is in sensorTypeNames.
const (
	SensorTemperature         SensorType = 0x01
	SensorVoltage             SensorType = 0x02
	SensorCurrent             SensorType = 0x03
	SensorFan                 SensorType = 0x04
	SensorPhysicalSecurity    SensorType = 0x05
	SensorProcessor           SensorType = 0x07
	SensorPowerSupply         SensorType = 0x08
	SensorMemory              SensorType = 0x0c
	SensorDriveSlot           SensorType = 0x0d
	SensorFirmwareProgress    SensorType = 0x0f
	SensorEventLogging        SensorType = 0x10
	SensorSystemEvent         SensorType = 0x12
	SensorCriticalInterrupt   SensorType = 0x13
	SensorSystemBoot          SensorType = 0x1d
	SensorOSBoot              SensorType = 0x1f
	SensorOSStop              SensorType = 0x20
	SensorWatchdog2           SensorType = 0x23
	SensorManagementSubsystem SensorType = 0x28
	SensorBattery             SensorType = 0x29
)

var sensorTypeNames = [...]string{
	0x01: "Temperature", 0x02: "Voltage", 0x03: "Current", 0x04: "Fan",
	0x05: "Physical Security", 0x06: "Platform Security", 0x07: "Processor",
	0x08: "Power Supply", 0x09: "Power Unit", 0x0a: "Cooling Device",
	0x0b: "Other Units-based Sensor", 0x0c: "Memory", 0x0d: "Drive Slot (Bay)",
	0x0e: "POST Memory Resize", 0x0f: "System Firmware Progress",
	0x10: "Event Logging Disabled", 0x11: "Watchdog 1", 0x12: "System Event",
	0x13: "Critical Interrupt", 0x14: "Button / Switch", 0x15: "Module / Board",
	0x16: "Microcontroller / Coprocessor", 0x17: "Add-in Card", 0x18: "Chassis",
	0x19: "Chip Set", 0x1a: "Other FRU", 0x1b: "Cable / Interconnect",
	0x1c: "Terminator", 0x1d: "System Boot / Restart Initiated", 0x1e: "Boot Error",
	0x1f: "OS Boot", 0x20: "OS Stop / Shutdown", 0x21: "Slot / Connector",
	0x22: "System ACPI Power State", 0x23: "Watchdog 2", 0x24: "Platform Alert",
	0x25: "Entity Presence", 0x26: "Monitor ASIC / IC", 0x27: "LAN",
	0x28: "Management Subsystem Health", 0x29: "Battery", 0x2a: "Session Audit",
	0x2b: "Version Change", 0x2c: "FRU State",
}

func (t SensorType) String() string {
	if int(t) < len(sensorTypeNames) && sensorTypeNames[t] != "" {
		return sensorTypeNames[t]
	}
	if t >= 0xc0 {
		return fmt.Sprintf("OEM sensor type %#02x", byte(t))
	}
	return fmt.Sprintf("sensor type %#02x", byte(t))
}

// EventType is the event/reading type code (IPMI 2.0 table 42-1).
type EventType byte

// Event/reading type codes.
const (
	EventTypeUnspecified    EventType = 0x00
	EventTypeThreshold      EventType = 0x01
	EventTypeSensorSpecific EventType = 0x6f
)

// Threshold reports whether readings are analog with thresholds.
func (t EventType) Threshold() bool { return t == EventTypeThreshold }

// Generic reports whether t is one of the generic discrete types.
func (t EventType) Generic() bool { return t >= 0x02 && t <= 0x0c }

func (t EventType) String() string {
	switch {
	case t == EventTypeUnspecified:
		return "unspecified"
	case t == EventTypeThreshold:
		return "threshold"
	case t.Generic():
		return fmt.Sprintf("generic discrete %#02x", byte(t))
	case t == EventTypeSensorSpecific:
		return "sensor-specific"
	case t >= 0x70 && t <= 0x7f:
		return fmt.Sprintf("OEM %#02x", byte(t))
	}
	return fmt.Sprintf("event type %#02x", byte(t))
}

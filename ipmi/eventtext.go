package ipmi

// Event offset texts (IPMI 2.0 tables 42-2 and 42-3), worded as ipmitool
// prints them.

var thresholdEvents = []string{
	"Lower Non-critical going low", "Lower Non-critical going high",
	"Lower Critical going low", "Lower Critical going high",
	"Lower Non-recoverable going low", "Lower Non-recoverable going high",
	"Upper Non-critical going low", "Upper Non-critical going high",
	"Upper Critical going low", "Upper Critical going high",
	"Upper Non-recoverable going low", "Upper Non-recoverable going high",
}

var genericEvents = map[EventType][]string{
	0x02: {"Transition to Idle", "Transition to Active", "Transition to Busy"},
	0x03: {"State Deasserted", "State Asserted"},
	0x04: {"Predictive Failure deasserted", "Predictive Failure asserted"},
	0x05: {"Limit Not Exceeded", "Limit Exceeded"},
	0x06: {"Performance Met", "Performance Lags"},
	0x07: {"Transition to OK", "Transition to Non-critical from OK",
		"Transition to Critical from less severe", "Transition to Non-recoverable from less severe",
		"Transition to Non-critical from more severe", "Transition to Critical from Non-recoverable",
		"Transition to Non-recoverable", "Monitor", "Informational"},
	0x08: {"Device Absent", "Device Present"},
	0x09: {"Device Disabled", "Device Enabled"},
	0x0a: {"Transition to Running", "Transition to In Test", "Transition to Power Off",
		"Transition to On Line", "Transition to Off Line", "Transition to Off Duty",
		"Transition to Degraded", "Transition to Power Save", "Install Error"},
	0x0b: {"Fully Redundant", "Redundancy Lost", "Redundancy Degraded",
		"Non-Redundant: Sufficient from Redundant", "Non-Redundant: Sufficient from Insufficient",
		"Non-Redundant: Insufficient Resources", "Redundancy Degraded from Fully Redundant",
		"Redundancy Degraded from Non-redundant"},
	0x0c: {"D0 Power State", "D1 Power State", "D2 Power State", "D3 Power State"},
}

var sensorSpecificEvents = map[SensorType][]string{
	SensorPhysicalSecurity: {"General Chassis intrusion", "Drive Bay intrusion",
		"I/O Card area intrusion", "Processor area intrusion", "System unplugged from LAN",
		"Unauthorized dock", "FAN area intrusion"},
	SensorProcessor: {"IERR", "Thermal Trip", "FRB1/BIST failure", "FRB2/Hang in POST failure",
		"FRB3/Processor Startup/Init failure", "Configuration Error", "SM BIOS Uncorrectable CPU-complex Error",
		"Presence detected", "Disabled", "Terminator presence detected", "Throttled",
		"Uncorrectable machine check exception", "Correctable machine check error"},
	SensorPowerSupply: {"Presence detected", "Failure detected", "Predictive failure",
		"Power Supply AC lost", "AC lost or out-of-range", "AC out-of-range, but present",
		"Config Error", "Power Supply Inactive"},
	SensorMemory: {"Correctable ECC", "Uncorrectable ECC", "Parity", "Memory Scrub Failed",
		"Memory Device Disabled", "Correctable ECC logging limit reached", "Presence Detected",
		"Configuration Error", "Spare", "Throttled", "Critical Overtemperature"},
	SensorDriveSlot: {"Drive Present", "Drive Fault", "Predictive Failure", "Hot Spare",
		"Parity Check In Progress", "In Critical Array", "In Failed Array",
		"Rebuild in Progress", "Rebuild Aborted"},
	SensorFirmwareProgress: {"System Firmware Error", "System Firmware Hang", "System Firmware Progress"},
	SensorEventLogging: {"Correctable memory error logging disabled", "Event Type Logging Disabled",
		"Log area reset/cleared", "All Event Logging Disabled", "Log full", "Log almost full",
		"Correctable Machine Check Error Logging Disabled"},
	SensorSystemEvent: {"System Reconfigured", "OEM System boot event", "Undetermined system hardware failure",
		"Entry added to auxiliary log", "PEF Action", "Timestamp Clock Sync"},
	SensorCriticalInterrupt: {"NMI/Diag Interrupt", "Bus Timeout", "I/O Channel check NMI",
		"Software NMI", "PCI PERR", "PCI SERR", "EISA failsafe timeout", "Bus Correctable error",
		"Bus Uncorrectable error", "Fatal NMI", "Bus Fatal Error", "Bus Degraded"},
	SensorSystemBoot: {"Initiated by power up", "Initiated by hard reset", "Initiated by warm reset",
		"User requested PXE boot", "Automatic boot to diagnostic", "OS initiated hard reset",
		"OS initiated warm reset", "System Restart"},
	SensorOSBoot: {"A: boot completed", "C: boot completed", "PXE boot completed",
		"Diagnostic boot completed", "CD-ROM boot completed", "ROM boot completed",
		"boot completed - device not specified", "Installation started", "Installation completed",
		"Installation aborted", "Installation failed"},
	SensorOSStop: {"Error during system startup", "Run-time critical stop", "OS graceful stop",
		"OS graceful shutdown", "PEF initiated soft shutdown", "Agent not responding"},
	SensorWatchdog2: {"Timer expired", "Hard reset", "Power down", "Power cycle",
		"", "", "", "", "Timer interrupt"},
	SensorBattery: {"Low", "Failed", "Presence Detected"},
}

// eventText is the text of offset for a sensor of type st reporting event
// type et; empty when unknown.
func eventText(et EventType, st SensorType, offset byte) string {
	var table []string
	switch {
	case et == EventTypeThreshold:
		table = thresholdEvents
	case et.Generic():
		table = genericEvents[et]
	case et == EventTypeSensorSpecific:
		table = sensorSpecificEvents[st]
	}
	if int(offset) < len(table) {
		return table[offset]
	}
	return ""
}

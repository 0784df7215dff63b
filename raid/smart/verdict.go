package smart

import (
	"fmt"
	"strings"
)

// Verdict is a disk's health, ordered: Passed < Warning < Failing. It
// marshals as "passed", "warning", "failing".
type Verdict int

const (
	// Passed: nothing found.
	Passed Verdict = iota
	// Warning: the disk works but a person should look: early signs of
	// media trouble, heat, wear, SMART turned off.
	Warning
	// Failing: the disk itself says it is failing, or is about to: replace
	// it.
	Failing
)

func (v Verdict) String() string {
	switch v {
	case Passed:
		return "passed"
	case Warning:
		return "warning"
	case Failing:
		return "failing"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// MarshalText writes the name.
func (v Verdict) MarshalText() ([]byte, error) {
	if v < Passed || v > Failing {
		return nil, fmt.Errorf("smart: invalid verdict %d", int(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText reads the name.
func (v *Verdict) UnmarshalText(b []byte) error {
	for c := Passed; c <= Failing; c++ {
		if string(b) == c.String() {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("smart: unknown verdict %q", b)
}

// ReasonCode names what drives a verdict; stable strings, for events,
// alerts and `keep ctl disks`.
type ReasonCode string

const (
	// ATA.
	ReasonSMARTStatusFailing  ReasonCode = "smart_status_failing"   // RETURN STATUS F4/2C
	ReasonAttributeFailing    ReasonCode = "attribute_failing"      // value ≤ non-zero threshold now
	ReasonAttributeFailedPast ReasonCode = "attribute_failed_past"  // worst ≤ non-zero threshold
	ReasonReallocated         ReasonCode = "reallocated_sectors"    // 5
	ReasonReportedUncorrect   ReasonCode = "reported_uncorrectable" // 187
	ReasonPending             ReasonCode = "pending_sectors"        // 197
	ReasonOfflineUncorrect    ReasonCode = "offline_uncorrectable"  // 198
	ReasonSMARTDisabled       ReasonCode = "smart_disabled"
	// Both.
	ReasonTemperatureHigh ReasonCode = "temperature_high"
	// NVMe critical warning bits, and the rest.
	ReasonSpareLow           ReasonCode = "spare_below_threshold"   // bit 0
	ReasonTemperatureLimit   ReasonCode = "temperature_threshold"   // bit 1
	ReasonReliability        ReasonCode = "reliability_degraded"    // bit 2
	ReasonReadOnly           ReasonCode = "read_only"               // bit 3
	ReasonVolatileBackup     ReasonCode = "volatile_backup_failed"  // bit 4
	ReasonPMR                ReasonCode = "pmr_unreliable"          // bit 5
	ReasonCriticalReserved   ReasonCode = "critical_warning_other"  // bits 6-7
	ReasonEnduranceUsed      ReasonCode = "endurance_used"          // percentage used
	ReasonMediaErrors        ReasonCode = "media_errors"            // media and data integrity errors
	ReasonEnduranceGroupWarn ReasonCode = "endurance_group_warning" // byte 6
)

// Reason is one finding behind a verdict.
type Reason struct {
	Verdict Verdict    `json:"verdict"`
	Code    ReasonCode `json:"code"`
	// Attribute is the ATA attribute id the reason is about, 0 otherwise.
	Attribute uint8  `json:"attribute,omitempty"`
	Detail    string `json:"detail"`
}

// RawRule flags an ATA attribute whose RawCount exceeds Max.
type RawRule struct {
	ID      uint8
	Max     uint64
	Verdict Verdict
	Code    ReasonCode
}

// Policy holds the thresholds the verdict is computed with: data, not
// code. DefaultPolicy documents the values Keep ships.
type Policy struct {
	// RawRules: ATA attribute counters that must stay at or below Max.
	RawRules []RawRule
	// HDDTempWarnC and SSDTempWarnC: an ATA disk at or above this many °C
	// is Warning (SSD: IDENTIFY word 217 = 1). 0 disables.
	HDDTempWarnC int
	SSDTempWarnC int
	// NVMeTempWarnC: an NVMe composite temperature at or above this is
	// Warning; the controller's own warning threshold (WCTEMP) wins when
	// it is lower. 0 disables both.
	NVMeTempWarnC int
	// NVMePercentUsedWarn: percentage used (of rated endurance) at or
	// above this is Warning. 0 disables.
	NVMePercentUsedWarn int
	// NVMeMediaErrorsMax: more media and data integrity errors than this
	// is Warning.
	NVMeMediaErrorsMax uint64
}

// DefaultPolicy is Keep's shipped policy:
//
//   - ATA: RETURN STATUS failing, or any attribute value ≤ its non-zero
//     threshold → Failing; worst ≤ threshold (failed in the past) →
//     Warning; raw Reallocated_Sector_Ct (5), Reported_Uncorrect (187),
//     Current_Pending_Sector (197), Offline_Uncorrectable (198) > 0 →
//     Warning; ≥ 55 °C (HDD) or ≥ 70 °C (SSD) → Warning; SMART disabled
//     → Warning. UDMA_CRC_Error_Count (199) and Command_Timeout (188) are
//     reported but not judged: they count cable and link trouble, never
//     reset, and 188's raw packs vendor counters.
//   - NVMe: any critical warning bit → Failing, each bit named; the
//     endurance group critical warning summary → Failing; percentage
//     used ≥ 100 → Warning; media errors > 0 → Warning; composite
//     temperature ≥ min(70 °C, WCTEMP) → Warning. Error log entries and
//     unsafe shutdowns are reported, not judged.
func DefaultPolicy() Policy {
	return Policy{
		RawRules: []RawRule{
			{ID: AttrReallocatedSectors, Max: 0, Verdict: Warning, Code: ReasonReallocated},
			{ID: AttrReportedUncorrect, Max: 0, Verdict: Warning, Code: ReasonReportedUncorrect},
			{ID: AttrCurrentPending, Max: 0, Verdict: Warning, Code: ReasonPending},
			{ID: AttrOfflineUncorrectable, Max: 0, Verdict: Warning, Code: ReasonOfflineUncorrect},
		},
		HDDTempWarnC:        55,
		SSDTempWarnC:        70,
		NVMeTempWarnC:       70,
		NVMePercentUsedWarn: 100,
		NVMeMediaErrorsMax:  0,
	}
}

// worst is the highest verdict among reasons (Passed when none).
func worst(rs []Reason) Verdict {
	v := Passed
	for _, r := range rs {
		if r.Verdict > v {
			v = r.Verdict
		}
	}
	return v
}

// EvaluateATA judges an ATA disk. Reasons come in a stable order: status,
// attributes in table order, raw rules in policy order, temperature.
func (p Policy) EvaluateATA(h *ATAHealth) (Verdict, []Reason) {
	var rs []Reason
	if !h.Identity.SMARTEnabled {
		rs = append(rs, Reason{Verdict: Warning, Code: ReasonSMARTDisabled,
			Detail: "SMART is disabled on the device; its health is unknown"})
		return worst(rs), rs
	}
	if h.Status == StatusFailing {
		rs = append(rs, Reason{Verdict: Failing, Code: ReasonSMARTStatusFailing,
			Detail: "SMART RETURN STATUS: threshold exceeded (device reports failing)"})
	}
	if h.Data == nil {
		return worst(rs), rs
	}
	for _, a := range h.Data.Attributes {
		st, th := State(a, h.Thresholds)
		switch st {
		case AttrFailingNow:
			rs = append(rs, Reason{Verdict: Failing, Code: ReasonAttributeFailing, Attribute: a.ID,
				Detail: fmt.Sprintf("%d %s: value %d ≤ threshold %d (%s)", a.ID, a.Name(), a.Value, th, ageWord(a))})
		case AttrFailedPast:
			rs = append(rs, Reason{Verdict: Warning, Code: ReasonAttributeFailedPast, Attribute: a.ID,
				Detail: fmt.Sprintf("%d %s: worst %d ≤ threshold %d in the past (%s)", a.ID, a.Name(), a.Worst, th, ageWord(a))})
		}
	}
	for _, rule := range p.RawRules {
		a, ok := h.Data.Attribute(rule.ID)
		if !ok || rule.Verdict == Passed {
			continue
		}
		if n := a.RawCount(); n > rule.Max {
			rs = append(rs, Reason{Verdict: rule.Verdict, Code: rule.Code, Attribute: a.ID,
				Detail: fmt.Sprintf("%d %s: raw %d > %d", a.ID, a.Name(), n, rule.Max)})
		}
	}
	limit := p.HDDTempWarnC
	if h.Identity.SSD() {
		limit = p.SSDTempWarnC
	}
	if t, ok := h.Data.Temperature(); ok && limit > 0 && t >= limit {
		rs = append(rs, Reason{Verdict: Warning, Code: ReasonTemperatureHigh,
			Detail: fmt.Sprintf("temperature %d °C ≥ %d °C", t, limit)})
	}
	return worst(rs), rs
}

func ageWord(a Attribute) string {
	if a.PreFail() {
		return "pre-fail"
	}
	return "old-age"
}

// criticalBits names the critical warning bits in bit order.
func criticalBits() []struct {
	bit  uint8
	code ReasonCode
	text string
} {
	return []struct {
		bit  uint8
		code ReasonCode
		text string
	}{
		{CriticalSpare, ReasonSpareLow, "available spare below threshold"},
		{CriticalTemperature, ReasonTemperatureLimit, "temperature above or below threshold"},
		{CriticalReliability, ReasonReliability, "NVM subsystem reliability degraded"},
		{CriticalReadOnly, ReasonReadOnly, "media placed in read-only mode"},
		{CriticalVolatileBackup, ReasonVolatileBackup, "volatile memory backup device failed"},
		{CriticalPMR, ReasonPMR, "persistent memory region read-only or unreliable"},
	}
}

// EvaluateNVMe judges an NVMe controller. Reasons come in a stable order:
// critical warning bits (low to high), endurance group, percentage used,
// media errors, temperature.
func (p Policy) EvaluateNVMe(h *NVMeHealth) (Verdict, []Reason) {
	var rs []Reason
	l := &h.Log
	for _, b := range criticalBits() {
		if l.CriticalWarning&b.bit != 0 {
			rs = append(rs, Reason{Verdict: Failing, Code: b.code,
				Detail: fmt.Sprintf("critical warning %#02x: %s", l.CriticalWarning, b.text)})
		}
	}
	if rest := l.CriticalWarning &^ 0x3F; rest != 0 {
		rs = append(rs, Reason{Verdict: Failing, Code: ReasonCriticalReserved,
			Detail: fmt.Sprintf("critical warning %#02x: reserved bits %#02x set", l.CriticalWarning, rest)})
	}
	if l.EnduranceWarning != 0 {
		rs = append(rs, Reason{Verdict: Failing, Code: ReasonEnduranceGroupWarn,
			Detail: fmt.Sprintf("endurance group critical warning summary %#02x", l.EnduranceWarning)})
	}
	if p.NVMePercentUsedWarn > 0 && int(l.PercentageUsed) >= p.NVMePercentUsedWarn {
		rs = append(rs, Reason{Verdict: Warning, Code: ReasonEnduranceUsed,
			Detail: fmt.Sprintf("percentage used %d%% ≥ %d%%", l.PercentageUsed, p.NVMePercentUsedWarn)})
	}
	if n, fits := l.MediaErrors.Uint64(); !fits || n > p.NVMeMediaErrorsMax {
		rs = append(rs, Reason{Verdict: Warning, Code: ReasonMediaErrors,
			Detail: fmt.Sprintf("media and data integrity errors %s > %d", l.MediaErrors, p.NVMeMediaErrorsMax)})
	}
	if limit, ok := p.nvmeTempLimit(&h.Controller); ok {
		if t, ok := l.TemperatureC(); ok && t >= limit {
			rs = append(rs, Reason{Verdict: Warning, Code: ReasonTemperatureHigh,
				Detail: fmt.Sprintf("composite temperature %d °C ≥ %d °C", t, limit)})
		}
	}
	return worst(rs), rs
}

// nvmeTempLimit is the warning temperature in °C: the policy's, lowered
// to the controller's WCTEMP when that is reported and lower.
func (p Policy) nvmeTempLimit(c *NVMeController) (int, bool) {
	if p.NVMeTempWarnC <= 0 {
		return 0, false
	}
	limit := p.NVMeTempWarnC
	if c.WarningTempK > nvmeKelvinOffset {
		if w := int(c.WarningTempK) - nvmeKelvinOffset; w < limit {
			limit = w
		}
	}
	return limit, true
}

// Summary is a one-line account of a verdict: "failing: …; …".
func Summary(v Verdict, rs []Reason) string {
	if len(rs) == 0 {
		return v.String()
	}
	d := make([]string, len(rs))
	for i, r := range rs {
		d[i] = r.Detail
	}
	return v.String() + ": " + strings.Join(d, "; ")
}

package smart

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// ataHealth builds an ATAHealth from attributes and thresholds by id.
func ataHealth(rotation uint16, status SMARTStatus, attrs []Attribute, th map[uint8]uint8) *ATAHealth {
	h := &ATAHealth{
		Identity: Identity{Model: "m", Serial: "s", SMARTSupported: true, SMARTEnabled: true, RotationRate: rotation},
		Data:     &SMARTData{},
		Status:   status,
	}
	t := &Thresholds{}
	for i, a := range attrs {
		a.slot = i
		h.Data.Attributes = append(h.Data.Attributes, a)
		if v, ok := th[a.ID]; ok {
			t.Entries = append(t.Entries, Threshold{ID: a.ID, Value: v, slot: i})
		}
	}
	h.Thresholds = t
	return h
}

func codes(rs []Reason) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r.Code)+"/"+r.Verdict.String())
	}
	return strings.Join(s, ",")
}

func TestEvaluateATA(t *testing.T) {
	healthy := []Attribute{attr(1, 0x0F, 100, 100, 0), attr(5, 0x33, 100, 100, 0), attr(9, 0x32, 99, 99, 1234),
		attr(194, 0x22, 36, 50, 36), attr(197, 0x32, 100, 100, 0), attr(198, 0x30, 100, 100, 0), attr(199, 0x3E, 200, 200, 0)}
	th := map[uint8]uint8{1: 6, 5: 36, 9: 0, 194: 0, 197: 0, 198: 0, 199: 0}
	with := func(id uint8, f func(a *Attribute)) []Attribute {
		out := append([]Attribute(nil), healthy...)
		for i := range out {
			if out[i].ID == id {
				f(&out[i])
			}
		}
		return out
	}
	p := DefaultPolicy()
	for _, tc := range []struct {
		name    string
		h       *ATAHealth
		verdict Verdict
		codes   string
	}{
		{"healthy", ataHealth(7200, StatusPassed, healthy, th), Passed, ""},
		{"QEMU table", func() *ATAHealth {
			d, _ := DecodeSMARTData(qemuSMARTData())
			ts, _ := DecodeThresholds(qemuThresholds())
			return &ATAHealth{Identity: Identity{SMARTSupported: true, SMARTEnabled: true}, Data: d, Thresholds: ts, Status: StatusPassed}
		}(), Passed, ""},
		{"status failing", ataHealth(7200, StatusFailing, healthy, th), Failing, "smart_status_failing/failing"},
		{"status unknown is not judged", ataHealth(7200, StatusUnknown, healthy, th), Passed, ""},
		{"prefail attribute at threshold", ataHealth(7200, StatusPassed, with(5, func(a *Attribute) { a.Value, a.Worst = 36, 36 }), th),
			Failing, "attribute_failing/failing"},
		{"failed in the past", ataHealth(7200, StatusPassed, with(1, func(a *Attribute) { a.Worst = 5 }), th),
			Warning, "attribute_failed_past/warning"},
		{"zero threshold never fails", ataHealth(7200, StatusPassed, with(9, func(a *Attribute) { a.Value = 0 }), th), Passed, ""},
		{"reallocated raw", ataHealth(7200, StatusPassed, with(5, func(a *Attribute) { a.Raw = 8 }), th),
			Warning, "reallocated_sectors/warning"},
		{"reallocated vendor bits above raw16 ignored", ataHealth(7200, StatusPassed, with(5, func(a *Attribute) { a.Raw = 0x0001_0000_0000 }), th),
			Passed, ""},
		{"pending and offline", ataHealth(7200, StatusPassed,
			with(197, func(a *Attribute) { a.Raw = 2 }), th), Warning, "pending_sectors/warning"},
		{"offline uncorrectable", ataHealth(7200, StatusPassed,
			with(198, func(a *Attribute) { a.Raw = 1 }), th), Warning, "offline_uncorrectable/warning"},
		{"CRC errors reported, not judged", ataHealth(7200, StatusPassed,
			with(199, func(a *Attribute) { a.Raw = 50 }), th), Passed, ""},
		{"HDD hot", ataHealth(7200, StatusPassed, with(194, func(a *Attribute) { a.Raw = 55 }), th),
			Warning, "temperature_high/warning"},
		{"HDD just below", ataHealth(7200, StatusPassed, with(194, func(a *Attribute) { a.Raw = 54 }), th), Passed, ""},
		{"SSD at 60 is fine", ataHealth(1, StatusPassed, with(194, func(a *Attribute) { a.Raw = 60 }), th), Passed, ""},
		{"SSD at 70", ataHealth(1, StatusPassed, with(194, func(a *Attribute) { a.Raw = 70 }), th),
			Warning, "temperature_high/warning"},
		{"SMART disabled", &ATAHealth{Identity: Identity{SMARTSupported: true}, Status: StatusUnknown},
			Warning, "smart_disabled/warning"},
		{"everything at once, stable order", ataHealth(7200, StatusFailing,
			with(5, func(a *Attribute) { a.Value, a.Worst, a.Raw = 30, 30, 500 }), th),
			Failing, "smart_status_failing/failing,attribute_failing/failing,reallocated_sectors/warning"},
		{"no thresholds read", func() *ATAHealth {
			h := ataHealth(7200, StatusPassed, with(5, func(a *Attribute) { a.Value = 1 }), th)
			h.Thresholds = nil
			return h
		}(), Passed, ""},
	} {
		v, rs := p.EvaluateATA(tc.h)
		if v != tc.verdict || codes(rs) != tc.codes {
			t.Errorf("%s: %s [%s], want %s [%s]", tc.name, v, codes(rs), tc.verdict, tc.codes)
		}
		for _, r := range rs {
			if r.Detail == "" {
				t.Errorf("%s: reason %s without detail", tc.name, r.Code)
			}
		}
	}
}

func TestPolicyIsData(t *testing.T) {
	h := ataHealth(7200, StatusPassed, []Attribute{attr(199, 0x3E, 200, 200, 3), attr(194, 0x22, 40, 40, 45)}, nil)
	p := DefaultPolicy()
	if v, _ := p.EvaluateATA(h); v != Passed {
		t.Fatalf("default: %s", v)
	}
	p.RawRules = append(p.RawRules, RawRule{ID: 199, Max: 2, Verdict: Failing, Code: "crc"})
	p.HDDTempWarnC = 45
	v, rs := p.EvaluateATA(h)
	if v != Failing || codes(rs) != "crc/failing,temperature_high/warning" {
		t.Fatalf("custom: %s %s", v, codes(rs))
	}
	p.HDDTempWarnC = 0
	p.RawRules = nil
	if v, _ := p.EvaluateATA(h); v != Passed {
		t.Fatalf("disabled: %s", v)
	}
	// DefaultPolicy hands out fresh slices: editing one leaves the next intact.
	a := DefaultPolicy()
	a.RawRules[0].Max = 99
	if DefaultPolicy().RawRules[0].Max != 0 {
		t.Fatal("DefaultPolicy shares state")
	}
}

func TestEvaluateNVMe(t *testing.T) {
	base := func() *NVMeHealth {
		return &NVMeHealth{Controller: NVMeController{WarningTempK: 343, CriticalTempK: 373},
			Log: HealthLog{TemperatureK: 323, AvailableSpare: 100, SpareThreshold: 10}}
	}
	edit := func(f func(h *NVMeHealth)) *NVMeHealth { h := base(); f(h); return h }
	p := DefaultPolicy()
	for _, tc := range []struct {
		name    string
		h       *NVMeHealth
		verdict Verdict
		codes   string
	}{
		{"healthy", base(), Passed, ""},
		{"QEMU (spare 0 %, threshold 0 %) is healthy", edit(func(h *NVMeHealth) {
			l, _ := DecodeHealthLog(qemuHealthLog(0))
			h.Log = *l
		}), Passed, ""},
		{"QEMU qom-set smart_critical_warning 2", edit(func(h *NVMeHealth) {
			l, _ := DecodeHealthLog(qemuHealthLog(2))
			h.Log = *l
		}), Failing, "temperature_threshold/failing"},
		{"spare", edit(func(h *NVMeHealth) { h.Log.CriticalWarning = CriticalSpare }), Failing, "spare_below_threshold/failing"},
		{"every bit, in order", edit(func(h *NVMeHealth) { h.Log.CriticalWarning = 0xFF }), Failing,
			"spare_below_threshold/failing,temperature_threshold/failing,reliability_degraded/failing,read_only/failing," +
				"volatile_backup_failed/failing,pmr_unreliable/failing,critical_warning_other/failing"},
		{"endurance group", edit(func(h *NVMeHealth) { h.Log.EnduranceWarning = 4 }), Failing, "endurance_group_warning/failing"},
		{"worn out", edit(func(h *NVMeHealth) { h.Log.PercentageUsed = 100 }), Warning, "endurance_used/warning"},
		{"99 % used", edit(func(h *NVMeHealth) { h.Log.PercentageUsed = 99 }), Passed, ""},
		{"255 % used", edit(func(h *NVMeHealth) { h.Log.PercentageUsed = 255 }), Warning, "endurance_used/warning"},
		{"media errors", edit(func(h *NVMeHealth) { h.Log.MediaErrors = Uint128{Lo: 1} }), Warning, "media_errors/warning"},
		{"media errors beyond 64 bits", edit(func(h *NVMeHealth) { h.Log.MediaErrors = Uint128{Hi: 1} }), Warning, "media_errors/warning"},
		{"error log entries not judged", edit(func(h *NVMeHealth) { h.Log.ErrorLogEntries = Uint128{Lo: 9} }), Passed, ""},
		{"unsafe shutdowns not judged", edit(func(h *NVMeHealth) { h.Log.UnsafeShutdowns = Uint128{Lo: 9} }), Passed, ""},
		{"70 °C", edit(func(h *NVMeHealth) { h.Log.TemperatureK = 343 }), Warning, "temperature_high/warning"},
		{"WCTEMP lower than the policy", edit(func(h *NVMeHealth) {
			h.Controller.WarningTempK = 333
			h.Log.TemperatureK = 333
		}), Warning, "temperature_high/warning"},
		{"WCTEMP higher than the policy", edit(func(h *NVMeHealth) {
			h.Controller.WarningTempK = 358
			h.Log.TemperatureK = 343
		}), Warning, "temperature_high/warning"},
		{"no WCTEMP, 69 °C", edit(func(h *NVMeHealth) {
			h.Controller.WarningTempK = 0
			h.Log.TemperatureK = 342
		}), Passed, ""},
		{"no temperature", edit(func(h *NVMeHealth) { h.Log.TemperatureK = 0 }), Passed, ""},
	} {
		v, rs := p.EvaluateNVMe(tc.h)
		if v != tc.verdict || codes(rs) != tc.codes {
			t.Errorf("%s: %s [%s], want %s [%s]", tc.name, v, codes(rs), tc.verdict, tc.codes)
		}
	}
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{Passed, Warning, Failing} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back Verdict
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Fatalf("%s: %s → %v %v", v, b, back, err)
		}
	}
	if _, err := json.Marshal(Verdict(7)); err == nil {
		t.Fatal("invalid verdict marshalled")
	}
	var v Verdict
	if err := json.Unmarshal([]byte(`"dead"`), &v); err == nil {
		t.Fatal("unknown verdict accepted")
	}
	if Verdict(9).String() != "verdict(9)" {
		t.Fatal(Verdict(9).String())
	}
	if s := Summary(Warning, []Reason{{Detail: "a"}, {Detail: "b"}}); s != "warning: a; b" {
		t.Fatal(s)
	}
	if s := Summary(Passed, nil); s != "passed" {
		t.Fatal(s)
	}
}

func TestReportJSON(t *testing.T) {
	d, _ := DecodeSMARTData(qemuSMARTData())
	th, _ := DecodeThresholds(qemuThresholds())
	id, _ := DecodeIdentify(qemuIdentify(131072, 0))
	r := ATAReport("/dev/sda", &ATAHealth{Identity: *id, Data: d, Thresholds: th, Status: StatusPassed}, DefaultPolicy())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"device": "/dev/sda", "protocol": "ata", "model": "FeasDisk", "serial": "SATA0001", "firmware": "2.5+",
		"capacity_bytes": float64(64 << 20), "ssd": false, "smart_enabled": true, "smart_status": "passed",
		"verdict": "passed", "temperature_c": float64(31), "power_on_hours": float64(1),
	} {
		if !reflect.DeepEqual(m[k], want) {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	attrs := m["attributes"].([]any)
	if len(attrs) != 7 {
		t.Fatalf("%d attributes", len(attrs))
	}
	a190 := attrs[6].(map[string]any)
	if a190["name"] != "Airflow_Temperature_Cel" || a190["threshold"] != float64(50) || a190["raw_count"] != float64(31) ||
		a190["state"] != "ok" || a190["value"] != float64(69) {
		t.Errorf("190: %v", a190)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Verdict != Passed || *back.TemperatureC != 31 {
		t.Fatalf("decode back: %v %+v", err, back)
	}

	c, _ := DecodeNVMeController(nvmeIdentifyCtrl("QEMU NVMe Ctrl", "NVME0001", "7.2.22", 343, 373))
	l, _ := DecodeHealthLog(qemuHealthLog(2))
	ns, _ := DecodeNVMeNamespace(nvmeIdentifyNS(131072, 0, 9))
	r = NVMeReport("/dev/nvme0n1", &NVMeHealth{Controller: *c, Namespace: ns, Log: *l}, DefaultPolicy())
	b, _ = json.Marshal(r)
	m = nil
	_ = json.Unmarshal(b, &m)
	for k, want := range map[string]any{
		"protocol": "nvme", "model": "QEMU NVMe Ctrl", "firmware": "7.2.22", "ssd": true, "verdict": "failing",
		"temperature_c": float64(50), "capacity_bytes": float64(64 << 20), "power_on_hours": float64(0),
	} {
		if !reflect.DeepEqual(m[k], want) {
			t.Errorf("nvme %s = %#v, want %#v", k, m[k], want)
		}
	}
	if _, ok := m["smart_status"]; ok {
		t.Error("NVMe report carries an ATA smart_status")
	}
	nv := m["nvme"].(map[string]any)
	if nv["critical_warning"] != float64(2) || nv["temperature_k"] != float64(323) || nv["data_units_read"] != float64(12) {
		t.Errorf("nvme log %v", nv)
	}
	reasons := m["reasons"].([]any)
	if len(reasons) != 1 || reasons[0].(map[string]any)["code"] != "temperature_threshold" {
		t.Errorf("reasons %v", reasons)
	}
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keep/appliance/events"
	"keep/raid/smart"
)

// HealthReader reads a disk's SMART health (smart.Read in production).
// Disks without SMART (virtio) fail with smart.ErrNoSMART.
type HealthReader func(ctx context.Context, devPath string) (*smart.Report, error)

// Health is a disk's last SMART reading as the status shows it.
type Health struct {
	Verdict string `json:"verdict"` // passed, warning, failing; "none" without SMART
	Summary string `json:"summary"`
	// TemperatureC and PowerOnHours when the disk reports them.
	TemperatureC *int      `json:"temperature_c,omitempty"`
	PowerOnHours *uint64   `json:"power_on_hours,omitempty"`
	ReadAt       time.Time `json:"read_at"`
	Error        string    `json:"error,omitempty"`
	// Report is the full reading (attributes or NVMe health log).
	Report *smart.Report `json:"report,omitempty"`
}

// checkHealth reads the SMART health of every disk (or only of name, if
// given) and raises an event whenever a disk's verdict changes.
func (v *Vault) checkHealth(ctx context.Context, only string) {
	if v.o.Health == nil {
		return
	}
	v.mu.Lock()
	var paths []struct{ name, path, id string }
	for _, d := range v.byName {
		if only == "" || d.Name == only || d.Controller == only {
			paths = append(paths, struct{ name, path, id string }{d.Name, d.Path, d.ID})
		}
	}
	v.mu.Unlock()
	for _, p := range paths {
		if ctx.Err() != nil {
			return
		}
		rep, err := v.o.Health(ctx, p.path)
		h := Health{ReadAt: v.o.Now(), Report: rep}
		switch {
		case errors.Is(err, smart.ErrNoSMART):
			h.Verdict, h.Summary, h.Report = "none", "no SMART on this disk", nil
		case err != nil:
			h.Verdict, h.Error = "unknown", err.Error()
			h.Summary = "SMART read failed: " + err.Error()
		default:
			h.Verdict = rep.Verdict.String()
			h.Summary = smart.Summary(rep.Verdict, rep.Reasons)
			h.TemperatureC, h.PowerOnHours = rep.TemperatureC, rep.PowerOnHours
		}
		v.mu.Lock()
		prev, seen := v.health[p.name]
		v.health[p.name] = h
		v.mu.Unlock()
		if (!seen && (h.Verdict == "passed" || h.Verdict == "none")) || (seen && prev.Verdict == h.Verdict) {
			continue
		}
		sev := events.Notice
		switch h.Verdict {
		case "failing":
			sev = events.Critical
		case "warning", "unknown":
			sev = events.Warning
		}
		label := p.id + " (" + p.name + ")"
		v.o.Emit(sev, "disk.health", fmt.Sprintf("disk %s health %s: %s", label, h.Verdict, h.Summary),
			map[string]string{"disk": label, "verdict": h.Verdict})
	}
	v.mu.Lock()
	for i, d := range v.status.Disks {
		if h, ok := v.health[d.Name]; ok {
			hh := h
			v.status.Disks[i].Health = &hh
		}
	}
	v.mu.Unlock()
}

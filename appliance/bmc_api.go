package appliance

import (
	"context"
	"fmt"
	"time"

	"keep/appliance/api"
	"keep/ipmi"
)

// BMCDetail implements api.BMCBackend.
func (a *Appliance) BMCDetail(ctx context.Context, sel int) (api.BMCDetail, error) {
	a.mu.Lock()
	b := a.bmc
	a.mu.Unlock()
	if b == nil {
		return api.BMCDetail{}, api.ErrNoBMCService
	}
	return b.detail(ctx, sel), nil
}

// detail reads the watchdog and the SEL live; sensors, FRU and LAN are
// as last read. Parts the BMC cannot answer are named in Problems.
func (s *bmcService) detail(ctx context.Context, sel int) api.BMCDetail {
	s.mu.Lock()
	d := api.BMCDetail{
		BMC:         s.info,
		Sensors:     append([]api.BMCSensor(nil), s.mon.readings...),
		SensorsRead: s.mon.read,
		LAN:         s.lan,
		LANProblem:  s.lanProblem,
	}
	if s.lastResetWD != nil {
		d.LastReset = "not the watchdog"
		if *s.lastResetWD {
			d.LastReset = "watchdog"
		}
	}
	if s.fru != nil {
		d.FRU = fruView(*s.fru)
	}
	dev := s.dev
	s.mu.Unlock()
	if dev == nil {
		return d
	}
	if st, err := dev.GetWatchdog(ctx); err != nil {
		d.Problems = append(d.Problems, err.Error())
	} else {
		d.Watchdog = watchdogView(st)
	}
	if info, err := dev.GetSELInfo(ctx); err != nil {
		d.Problems = append(d.Problems, err.Error())
	} else {
		d.SELInfo = &api.BMCSELInfo{Version: fmt.Sprintf("%d.%d", info.Version&0x0f, info.Version>>4), Entries: int(info.Entries),
			FreeBytes: int(info.FreeBytes), Capacity: info.Capacity(), Overflow: info.Overflow, AlmostFull: info.AlmostFull()}
	}
	rs, err := dev.SELEntries(ctx)
	if err != nil {
		d.Problems = append(d.Problems, err.Error())
	}
	d.SELTotal = len(rs)
	if sel > 0 && len(rs) > sel {
		rs = rs[len(rs)-sel:]
	}
	for _, r := range rs {
		d.SEL = append(d.SEL, selView(r))
	}
	return d
}

func watchdogView(st ipmi.WatchdogState) *api.BMCWatchdog {
	w := &api.BMCWatchdog{Use: st.Use.String(), Running: st.Running, DontLog: st.DontLog, Action: st.Action.String(),
		PreTimeout: st.PreTimeout.String(), PreTimeoutSecs: int(st.PreTimeoutInterval / time.Second),
		TimeoutSeconds: st.Timeout.Seconds(), RemainingSeconds: st.Remaining.Seconds()}
	for _, u := range st.ExpiredUses() {
		w.Expired = append(w.Expired, u.String())
	}
	return w
}

func selView(r ipmi.SELRecord) api.BMCSELEntry {
	e := api.BMCSELEntry{ID: int(r.ID), Timestamp: r.Timestamp.String(), Type: r.Type.Kind(), Text: r.String(), Raw: fmt.Sprintf("% x", r.Raw[:])}
	if t, ok := r.Timestamp.Time(); ok {
		e.Time = t
	}
	if ev := r.Event; ev != nil {
		e.SensorType, e.Sensor, e.Event, e.Asserted, e.Generator = ev.SensorType.String(), int(ev.Sensor), ev.Description(), !ev.Deassertion, ev.Generator()
		if e.Event == "" {
			e.Event = fmt.Sprintf("offset %#x", ev.Offset())
		}
	}
	return e
}

func fruView(f ipmi.FRU) *api.BMCFRU {
	v := &api.BMCFRU{}
	if b := f.Board; b != nil {
		v.BoardManufacturer, v.BoardProduct, v.BoardSerial, v.BoardPart = b.Manufacturer, b.Product, b.Serial, b.PartNumber
		if !b.MfgDate.IsZero() {
			v.BoardMfgDate = b.MfgDate.UTC().Format(time.RFC3339)
		}
	}
	if p := f.Product; p != nil {
		v.ProductManufacturer, v.ProductName, v.ProductPart, v.ProductVersion, v.ProductSerial, v.ProductAssetTag =
			p.Manufacturer, p.Name, p.PartNumber, p.Version, p.Serial, p.AssetTag
	}
	if c := f.Chassis; c != nil {
		v.ChassisPart, v.ChassisSerial = c.PartNumber, c.Serial
	}
	return v
}

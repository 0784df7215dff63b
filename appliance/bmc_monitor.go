package appliance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/ipmi"
)

// SELRecordKind is one of the supervisor's own serious events, as written to
// the SEL: a system event record from software id 0x20 (generator 0x41).
type SELRecordKind int

// The supervisor's SEL records. The storage code reports RAID and disk
// trouble through (*bmcService).LogToSEL.
const (
	selRecordBoot          SELRecordKind = iota // OS Boot: C: boot completed
	selRecordShutdown                           // OS Stop/Shutdown: OS graceful shutdown
	selRecordWatchdogArmed                      // Watchdog 2, digital discrete: State Asserted
	// SELRAIDDegraded: Drive Slot "In Critical Array" (unit: array index).
	SELRAIDDegraded
	// SELRAIDFailed: Drive Slot "In Failed Array" (unit: array index).
	SELRAIDFailed
	// SELDiskFailing: Drive Slot "Predictive Failure" (unit: slot).
	SELDiskFailing
)

// event is the record's body; unit is its sensor number.
func (r SELRecordKind) event(unit byte) ipmi.SystemEvent {
	ev := ipmi.SystemEvent{Sensor: unit, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{0, 0xff, 0xff}}
	switch r {
	case selRecordBoot:
		ev.SensorType, ev.Data[0] = ipmi.SensorOSBoot, 0x01
	case selRecordShutdown:
		ev.SensorType, ev.Data[0] = ipmi.SensorOSStop, 0x03
	case selRecordWatchdogArmed:
		ev.SensorType, ev.EventType, ev.Data[0] = ipmi.SensorWatchdog2, 0x03, 0x01
	case SELRAIDDegraded:
		ev.SensorType, ev.Data[0] = ipmi.SensorDriveSlot, 0x05
	case SELRAIDFailed:
		ev.SensorType, ev.Data[0] = ipmi.SensorDriveSlot, 0x06
	case SELDiskFailing:
		ev.SensorType, ev.Data[0] = ipmi.SensorDriveSlot, 0x02
	}
	return ev
}

// errNoBMC is LogToSEL's answer when no BMC is open.
var errNoBMC = errors.New("no BMC open: nothing written to the SEL")

// LogToSEL writes one of the serious events (SELRAIDDegraded,
// SELRAIDFailed, SELDiskFailing) to the BMC's SEL, so it survives the
// disks and the network. unit is the sensor number written (array index
// or drive slot). Without a BMC it returns an error and writes nothing;
// callers log it and carry on.
func (s *bmcService) LogToSEL(ctx context.Context, r SELRecordKind, unit byte, what string) error {
	if r < SELRAIDDegraded || r > SELDiskFailing {
		return fmt.Errorf("SEL record %d is not one the storage code writes", r)
	}
	s.mu.Lock()
	dev := s.dev
	s.mu.Unlock()
	if dev == nil {
		return errNoBMC
	}
	id, err := dev.LogEvent(ctx, r.event(unit))
	if err != nil {
		return fmt.Errorf("write %s to the SEL: %w", what, err)
	}
	s.mu.Lock()
	s.mon.ours(id)
	s.mu.Unlock()
	s.log.Info("SEL record written", "record", what, "id", id)
	return nil
}

// bmcMonitor is what the service remembers of the sensors and the SEL.
type bmcMonitor struct {
	records  []ipmi.SensorRecord
	readings []api.BMCSensor
	read     time.Time
	levels   map[byte]string // sensor number -> ok, warning, critical
	// seen holds the SEL entries already known (raw bytes; nil for our
	// own records not yet read back), by record id.
	seen map[uint16]*[16]byte
}

func (m *bmcMonitor) ours(id uint16) {
	if m.seen == nil {
		m.seen = map[uint16]*[16]byte{}
	}
	if _, ok := m.seen[id]; !ok {
		m.seen[id] = nil
	}
}

// fresh returns the records of rs not seen before and remembers them
// all. A known id with other bytes (the SEL was cleared and refilled
// behind our back) is fresh; our own records are not.
func (m *bmcMonitor) fresh(rs []ipmi.SELRecord) []ipmi.SELRecord {
	if m.seen == nil {
		m.seen = map[uint16]*[16]byte{}
	}
	var out []ipmi.SELRecord
	for _, r := range rs {
		raw := r.Raw
		old, known := m.seen[r.ID]
		switch {
		case !known:
			out = append(out, r)
		case old != nil && *old != raw:
			out = append(out, r)
		}
		m.seen[r.ID] = &raw
	}
	return out
}

// startSEL reads and decodes the whole SEL at boot: those entries are
// history (from earlier boots), remembered but not events one by one.
func (s *bmcService) startSEL(ctx context.Context, c bmcDevice) {
	rs, err := c.SELEntries(ctx)
	if err != nil {
		s.log.Warn("read SEL", "error", err, "entries_read", len(rs))
	}
	s.mu.Lock()
	s.mon.fresh(rs)
	s.mu.Unlock()
	for _, r := range rs {
		s.log.Debug("SEL", "entry", r.String())
	}
	s.log.Info("SEL read", "entries", len(rs))
	s.emit(events.Info, "bmc.sel_read", fmt.Sprintf("SEL holds %d entries from before this boot", len(rs)), map[string]string{"entries": strconv.Itoa(len(rs))})
	s.checkSELSpace(ctx, c)
}

// pollSEL turns entries new since the last poll into events, then makes
// room if the SEL is almost full.
func (s *bmcService) pollSEL(ctx context.Context, c bmcDevice) {
	rs, err := c.SELEntries(ctx)
	if err != nil {
		s.log.Warn("read SEL", "error", err, "entries_read", len(rs))
	}
	s.mu.Lock()
	fresh := s.mon.fresh(rs)
	s.mu.Unlock()
	for _, r := range fresh {
		sev := events.Notice
		if r.Event != nil && r.Event.EventType == ipmi.EventTypeThreshold && !r.Event.Deassertion {
			sev = events.Warning
		}
		s.emit(sev, "bmc.sel_entry", "SEL: "+r.String(), selFields(r))
	}
	s.checkSELSpace(ctx, c)
}

func selFields(r ipmi.SELRecord) map[string]string {
	return map[string]string{"id": fmt.Sprintf("%#04x", r.ID), "raw": fmt.Sprintf("% x", r.Raw[:])}
}

// checkSELSpace archives every entry to the journal and clears the SEL
// when it is almost full (or overflowed): never silently lost.
func (s *bmcService) checkSELSpace(ctx context.Context, c bmcDevice) {
	info, err := c.GetSELInfo(ctx)
	if err != nil {
		s.log.Warn("read SEL info", "error", err)
		return
	}
	if !info.AlmostFull() {
		return
	}
	rs, err := c.SELEntries(ctx)
	if err != nil {
		// Archiving only part of it and clearing would lose the rest.
		s.log.Error("SEL almost full but unreadable: not cleared", "error", err)
		s.emit(events.Error, "bmc.sel_full", fmt.Sprintf("SEL almost full (%d entries, %d free) and unreadable, not cleared: %v", info.Entries, info.FreeEntries(), err), nil)
		return
	}
	for _, r := range rs {
		s.emit(events.Info, "bmc.sel_archived", "SEL archived: "+r.String(), selFields(r))
	}
	if err := c.ClearSEL(ctx); err != nil {
		s.log.Error("clear SEL", "error", err)
		s.emit(events.Error, "bmc.sel_full", fmt.Sprintf("SEL almost full: archived %d entries to the journal, but clearing failed: %v", len(rs), err), nil)
		return
	}
	s.mu.Lock()
	s.mon.seen = nil
	s.mu.Unlock()
	why := fmt.Sprintf("%d of %d entries used", info.Entries, info.Capacity())
	if info.Overflow {
		why = "overflowed, the BMC dropped events"
	}
	msg := fmt.Sprintf("SEL almost full (%s): archived %d entries to the event journal (bmc.sel_archived), then cleared it", why, len(rs))
	s.log.Warn(msg)
	s.emit(events.Notice, "bmc.sel_cleared", msg, map[string]string{"archived": strconv.Itoa(len(rs))})
}

// startSensors reads the SDR repository, then the sensors once.
func (s *bmcService) startSensors(ctx context.Context, c bmcDevice) {
	sdrs, err := c.SDRRepository(ctx)
	if err != nil {
		s.log.Warn("read SDR repository", "error", err, "records_read", len(sdrs))
	}
	var recs []ipmi.SensorRecord
	for _, r := range sdrs {
		if r.Sensor != nil {
			recs = append(recs, *r.Sensor)
		}
	}
	s.mu.Lock()
	s.mon.records = recs
	s.mu.Unlock()
	s.log.Info("SDR repository read", "records", len(sdrs), "sensors", len(recs))
	s.pollSensors(ctx, c)
}

// sensorLevel maps a sensor status onto ok, warning, critical; "" for
// statuses without a level (na, discrete).
func sensorLevel(status string) string {
	switch status {
	case "ok":
		return "ok"
	case "lnc", "unc":
		return "warning"
	case "lcr", "ucr", "lnr", "unr":
		return "critical"
	}
	return ""
}

var levelRank = map[string]int{"ok": 0, "warning": 1, "critical": 2}

// pollSensors reads every sensor, keeps the readings, and makes events
// of level changes (entering or leaving warning or critical).
func (s *bmcService) pollSensors(ctx context.Context, c bmcDevice) {
	s.mu.Lock()
	recs := s.mon.records
	s.mu.Unlock()
	out := make([]api.BMCSensor, 0, len(recs))
	for _, r := range recs {
		v, err := c.ReadSensor(ctx, r)
		out = append(out, sensorView(r, v, err))
	}
	s.mu.Lock()
	if s.mon.levels == nil {
		s.mon.levels = map[byte]string{}
	}
	type change struct {
		sensor   api.BMCSensor
		from, to string
	}
	var changes []change
	for _, v := range out {
		if v.Level == "" || v.Level == "na" {
			continue
		}
		from, ok := s.mon.levels[byte(v.Number)]
		if !ok {
			from = "ok"
		}
		if from != v.Level {
			changes = append(changes, change{v, from, v.Level})
		}
		s.mon.levels[byte(v.Number)] = v.Level
	}
	s.mon.readings, s.mon.read = out, time.Now()
	s.mu.Unlock()
	for _, ch := range changes {
		v := ch.sensor
		reading := sensorReading(v)
		fields := map[string]string{"sensor": v.Name, "number": strconv.Itoa(v.Number), "status": v.Status, "reading": reading, "from": ch.from, "to": ch.to}
		var sev events.Severity
		var msg string
		switch {
		case levelRank[ch.to] > levelRank[ch.from]:
			sev = events.Warning
			if ch.to == "critical" {
				sev = events.Critical
			}
			msg = fmt.Sprintf("sensor %s (%s) entered %s: %s (%s)", v.Name, v.Type, ch.to, reading, v.Status)
		default:
			sev = events.Notice
			msg = fmt.Sprintf("sensor %s (%s) left %s, now %s: %s", v.Name, v.Type, ch.from, ch.to, reading)
		}
		s.log.Warn(msg)
		s.emit(sev, "bmc.sensor_"+ch.to, msg, fields)
	}
}

// sensorView is the API's form of one reading.
func sensorView(r ipmi.SensorRecord, v ipmi.SensorValue, err error) api.BMCSensor {
	out := api.BMCSensor{Number: int(r.Number), Name: r.Name, Type: r.SensorType.String(), Threshold: r.EventType.Threshold()}
	if r.Analog() {
		out.Unit = r.Units.String()
	}
	if err != nil {
		out.Status, out.Level, out.Error = "na", "na", err.Error()
		return out
	}
	out.Raw, out.Status, out.States = int(v.Reading.Raw), v.Status, v.Reading.States
	if v.HasValue {
		f := v.Value
		out.Value = &f
	}
	out.Level = sensorLevel(v.Status)
	if v.Status == "na" {
		out.Level = "na"
	}
	return out
}

// sensorReading is the reading in words: value and unit, else raw.
func sensorReading(v api.BMCSensor) string {
	if v.Value != nil {
		return strconv.FormatFloat(*v.Value, 'f', -1, 64) + " " + v.Unit
	}
	return fmt.Sprintf("raw %#02x", v.Raw)
}

// configureLAN reads the BMC's LAN channel and, when the config has a
// bmc.lan section, writes it. A BMC without a LAN channel (QEMU's) is
// reported, not a failure.
func (s *bmcService) configureLAN(ctx context.Context, c bmcDevice) {
	ch, err := c.FindLANChannel(ctx)
	if err != nil {
		problem := err.Error()
		if errors.Is(err, ipmi.ErrNoLANChannel) {
			problem = "no LAN channel"
		}
		s.mu.Lock()
		s.lanProblem = problem
		s.mu.Unlock()
		if s.cfg.LAN != nil {
			s.log.Error("BMC LAN configuration not applied", "reason", problem)
			s.emit(events.Warning, "bmc.lan_failed", "BMC LAN configuration (bmc.lan) not applied: "+problem, nil)
		} else {
			s.log.Info("BMC LAN configuration unavailable", "reason", problem)
		}
		return
	}
	if want := s.cfg.LAN; want != nil {
		cfg := ipmi.LANConfig{Source: ipmi.IPSourceDHCP}
		if want.Source == "static" {
			cfg.Source = ipmi.IPSourceStatic
			cfg.Address, _ = netip.ParseAddr(want.Address)
			cfg.Netmask, _ = netip.ParseAddr(want.Netmask)
			cfg.Gateway, _ = netip.ParseAddr(want.Gateway)
		}
		if err := c.SetLANConfig(ctx, ch, cfg); err != nil {
			s.log.Error("set BMC LAN configuration", "channel", ch, "error", err)
			s.emit(events.Warning, "bmc.lan_failed", fmt.Sprintf("BMC LAN configuration (bmc.lan) not applied on channel %d: %v", ch, err), nil)
		} else {
			s.log.Info("BMC LAN configuration applied", "channel", ch, "source", want.Source, "address", want.Address)
			s.emit(events.Info, "bmc.lan_configured", fmt.Sprintf("BMC LAN channel %d set: %s %s", ch, want.Source, want.Address), nil)
		}
	}
	got, err := c.GetLANConfig(ctx, ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lanProblem = err.Error()
		return
	}
	s.lanProblem = ""
	s.lan = &api.BMCLAN{Channel: int(ch), Source: got.Source.String(), Address: got.Address.String(),
		Netmask: got.Netmask.String(), Gateway: got.Gateway.String(), MAC: got.MAC.String()}
}

func boardField(f ipmi.FRU, get func(*ipmi.BoardInfo) string) string {
	if f.Board == nil {
		return ""
	}
	return get(f.Board)
}

func productField(f ipmi.FRU, get func(*ipmi.ProductInfo) string) string {
	if f.Product == nil {
		return ""
	}
	return get(f.Product)
}

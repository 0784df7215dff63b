package appliance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/ipmi"
)

// bmcService owns the BMC: it reports the last reset cause, arms the
// watchdog and pets it only while the box is healthy, writes boot and
// shutdown records to the SEL, and reads the FRU identity. A machine
// without a BMC is a clean, reported state, not a failure.
type bmcService struct {
	path     string
	timeout  time.Duration
	healthy  func() error // nil when the box deserves a keepalive
	log      hclog.Logger
	emit     func(sev events.Severity, kind, msg string, fields map[string]string)
	mu       sync.Mutex
	info     api.BMC
	petEvery time.Duration
}

func (s *bmcService) Name() string { return "bmc" }

func (s *bmcService) set(f func(*api.BMC)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.info)
}

// Info is the BMC's state for the API.
func (s *bmcService) Info() api.BMC {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

func (s *bmcService) Run(ctx context.Context, ready func()) error {
	c, err := ipmi.Open(ipmi.Config{Path: s.path})
	if errors.Is(err, ipmi.ErrNoBMC) {
		s.log.Info("no BMC on this machine: no hardware watchdog, SEL or FRU identity")
		s.emit(events.Notice, "bmc.absent", "no BMC: no hardware watchdog, SEL or FRU identity", nil)
		s.set(func(b *api.BMC) { b.Present = false })
		ready()
		<-ctx.Done()
		return nil
	}
	if err != nil {
		return fmt.Errorf("open BMC: %w", err)
	}
	defer c.Close()
	s.set(func(b *api.BMC) { b.Present = true })
	if id, err := c.GetDeviceID(ctx); err == nil {
		s.set(func(b *api.BMC) {
			b.Firmware, b.IPMIVersion, b.Manufacturer, b.Product = id.Firmware(), id.IPMI(), id.ManufacturerID, id.ProductID
		})
	}
	s.readIdentity(ctx, c)

	// What the BMC remembers from before this boot.
	if st, err := c.GetWatchdog(ctx); err != nil {
		s.log.Warn("read watchdog", "error", err)
	} else if st.ResetByWatchdog() {
		s.set(func(b *api.BMC) { b.LastResetByWatchdog = true })
		s.log.Error("the last reset was by the watchdog: the previous boot hung or a critical service wedged")
		s.emit(events.Critical, "bmc.watchdog_reset", "the last reset was by the BMC watchdog", nil)
	}

	cfg := ipmi.WatchdogConfig{Use: ipmi.TimerUseSMSOS, Action: ipmi.ActionHardReset, Timeout: s.timeout,
		ClearExpired: []ipmi.TimerUse{ipmi.TimerUseBIOSFRB2, ipmi.TimerUseBIOSPOST, ipmi.TimerUseOSLoad, ipmi.TimerUseSMSOS, ipmi.TimerUseOEM}}
	if err := c.SetWatchdog(ctx, cfg); err != nil {
		return fmt.Errorf("arm watchdog: %w", err)
	}
	if err := c.ResetWatchdog(ctx); err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	s.set(func(b *api.BMC) { b.WatchdogArmed, b.WatchdogTimeout, b.LastPet = true, s.timeout.String(), time.Now() })
	s.log.Info("watchdog armed", "timeout", s.timeout, "action", "hard reset")
	s.emit(events.Info, "bmc.watchdog_armed", "BMC watchdog armed: hard reset after "+s.timeout.String()+" without a healthy keepalive", nil)
	s.sel(ctx, c, ipmi.SensorOSBoot, 0x01, "boot") // OS Boot: C: boot completed
	ready()

	tick := time.NewTicker(s.petEvery)
	defer tick.Stop()
	withheld := false
	for {
		select {
		case <-ctx.Done():
			// Orderly shutdown: disarm first, so a slow stop is not a
			// watchdog reset; then the SEL record.
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := c.DisarmWatchdog(stopCtx); err != nil {
				s.log.Error("disarm watchdog", "error", err)
			} else {
				s.log.Info("watchdog disarmed for the orderly shutdown")
			}
			s.sel(stopCtx, c, ipmi.SensorOSStop, 0x03, "orderly shutdown") // OS graceful shutdown
			return nil
		case <-tick.C:
		}
		if err := s.healthy(); err != nil {
			if !withheld {
				s.log.Error("withholding the watchdog keepalive", "reason", err)
				s.emit(events.Error, "bmc.keepalive_withheld", "watchdog keepalive withheld: "+err.Error(), nil)
				withheld = true
			}
			continue
		}
		if withheld {
			s.log.Info("healthy again; petting the watchdog")
			withheld = false
		}
		if err := c.ResetWatchdog(ctx); err != nil {
			s.log.Warn("pet watchdog", "error", err)
			continue
		}
		s.set(func(b *api.BMC) { b.LastPet = time.Now() })
	}
}

// sel writes one of the supervisor's own records to the SEL.
func (s *bmcService) sel(ctx context.Context, c *ipmi.Client, st ipmi.SensorType, offset byte, what string) {
	id, err := c.LogEvent(ctx, ipmi.SystemEvent{SensorType: st, Sensor: 0, EventType: ipmi.EventTypeSensorSpecific, Data: [3]byte{offset, 0xff, 0xff}})
	if err != nil {
		s.log.Warn("write SEL", "record", what, "error", err)
		return
	}
	s.log.Info("SEL record written", "record", what, "id", id)
}

// readIdentity reads the baseboard FRU: its serial number is the
// appliance's identity.
func (s *bmcService) readIdentity(ctx context.Context, c *ipmi.Client) {
	fru, _, err := c.ReadFRU(ctx, 0)
	if err != nil {
		s.log.Warn("no FRU identity", "error", err)
		return
	}
	s.set(func(b *api.BMC) {
		if fru.Board != nil {
			b.BoardSerial, b.BoardPart, b.BoardProduct = fru.Board.Serial, fru.Board.PartNumber, fru.Board.Product
		}
		if fru.Product != nil {
			b.ProductSerial, b.ProductName = fru.Product.Serial, fru.Product.Name
		}
	})
}

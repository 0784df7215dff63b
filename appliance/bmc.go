package appliance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/ipmi"
)

// bmcService owns the BMC: it reports the last reset cause, arms the
// watchdog and pets it only while the box is healthy, writes boot and
// shutdown records to the SEL, and reads the FRU identity. A machine
// without a BMC is a clean, reported state, not a failure.
type bmcService struct {
	path    string
	timeout time.Duration
	healthy func() error // nil when the box deserves a keepalive
	// bootTimeout is the watchdog's timeout until booted reports true
	// (the ready or not-ready line was printed); then timeout applies.
	bootTimeout time.Duration
	booted      func() bool
	// bootDone, when set, is closed as the boot ends, so the switch to
	// the running timeout happens at once rather than at the next pet.
	bootDone <-chan struct{}
	log      hclog.Logger
	emit     func(sev events.Severity, kind, msg string, fields map[string]string)
	mu       sync.Mutex
	info     api.BMC
	petEvery time.Duration
	// cfg is the bmc config section: sensor_every (0: 30 s) and lan.
	cfg config.BMC
	// open opens the BMC; nil means the real device (ipmi.Open).
	open func(path string) (bmcDevice, error)

	// Guarded by mu.
	dev         bmcDevice // while Run holds the BMC open
	mon         bmcMonitor
	fru         *ipmi.FRU
	lan         *api.BMCLAN
	lanProblem  string
	lastResetWD *bool
}

// bmcDevice is what the service uses of an *ipmi.Client; tests fake it.
type bmcDevice interface {
	Close() error
	GetDeviceID(ctx context.Context) (ipmi.DeviceID, error)
	ReadFRU(ctx context.Context, id byte) (ipmi.FRU, []byte, error)
	GetWatchdog(ctx context.Context) (ipmi.WatchdogState, error)
	SetWatchdog(ctx context.Context, w ipmi.WatchdogConfig) error
	ResetWatchdog(ctx context.Context) error
	DisarmWatchdog(ctx context.Context) error
	LogEvent(ctx context.Context, ev ipmi.SystemEvent) (uint16, error)
	SELEntries(ctx context.Context) ([]ipmi.SELRecord, error)
	GetSELInfo(ctx context.Context) (ipmi.SELInfo, error)
	ClearSEL(ctx context.Context) error
	SDRRepository(ctx context.Context) ([]ipmi.SDR, error)
	ReadSensor(ctx context.Context, s ipmi.SensorRecord) (ipmi.SensorValue, error)
	FindLANChannel(ctx context.Context) (byte, error)
	GetLANConfig(ctx context.Context, ch byte) (ipmi.LANConfig, error)
	SetLANConfig(ctx context.Context, ch byte, cfg ipmi.LANConfig) error
}

func openIPMI(path string) (bmcDevice, error) {
	c, err := ipmi.Open(ipmi.Config{Path: path})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// defaultSensorEvery is the sensor and SEL poll interval when the config
// does not say (bmc.sensor_every).
const defaultSensorEvery = 30 * time.Second

func (s *bmcService) pollEvery() time.Duration {
	if s.cfg.SensorEvery > 0 {
		return time.Duration(s.cfg.SensorEvery)
	}
	return defaultSensorEvery
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
	open := s.open
	if open == nil {
		open = openIPMI
	}
	c, err := open(s.path)
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
	s.mu.Lock()
	s.dev = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.dev = nil
		s.mu.Unlock()
	}()
	if id, err := c.GetDeviceID(ctx); err == nil {
		s.set(func(b *api.BMC) {
			b.Firmware, b.IPMIVersion, b.Manufacturer, b.Product = id.Firmware(), id.IPMI(), id.ManufacturerID, id.ProductID
		})
	}
	s.readIdentity(ctx, c)

	// What the BMC remembers from before this boot.
	if st, err := c.GetWatchdog(ctx); err != nil {
		s.log.Warn("read watchdog", "error", err)
	} else if wd := st.ResetByWatchdog(); !wd {
		s.mu.Lock()
		s.lastResetWD = &wd
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		s.lastResetWD = &wd
		s.mu.Unlock()
		s.set(func(b *api.BMC) { b.LastResetByWatchdog = true })
		s.log.Error("the last reset was by the watchdog: the previous boot hung or a critical service wedged")
		s.emit(events.Critical, "bmc.watchdog_reset", "the last reset was by the BMC watchdog", nil)
	}

	// Armed at once with the generous boot timeout: the boot itself
	// (assembling, checking and mounting the vault) may take minutes on
	// big arrays. Once the boot is over, the running timeout applies.
	armFor := max(s.bootTimeout, s.timeout)
	running := armFor == s.timeout
	if err := s.arm(ctx, c, armFor); err != nil {
		return err
	}
	what := "boot"
	if running {
		what = "running"
	}
	s.log.Info("watchdog armed", "timeout", armFor, "for", what, "action", "hard reset")
	s.emit(events.Info, "bmc.watchdog_armed", "BMC watchdog armed: hard reset after "+armFor.String()+" without a healthy keepalive ("+what+" timeout)", nil)

	// The SEL as the previous boots left it, before this boot's records.
	s.startSEL(ctx, c)
	s.sel(ctx, c, selRecordBoot, 0, "boot")
	s.sel(ctx, c, selRecordWatchdogArmed, 0, "watchdog armed")
	s.startSensors(ctx, c)
	s.configureLAN(ctx, c)
	ready()

	tick := time.NewTicker(s.petEvery)
	defer tick.Stop()
	poll := time.NewTicker(s.pollEvery())
	defer poll.Stop()
	withheld := false
	bootDone := s.bootDone
	for {
		select {
		case <-bootDone:
			bootDone = nil // then on to the switch below
		case <-poll.C:
			s.pollSensors(ctx, c)
			s.pollSEL(ctx, c)
			continue
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
			s.sel(stopCtx, c, selRecordShutdown, 0, "orderly shutdown")
			return nil
		case <-tick.C:
		}
		booted := s.booted == nil || s.booted()
		if !running && booted {
			if err := s.arm(ctx, c, s.timeout); err != nil {
				s.log.Warn("switch the watchdog to its running timeout", "error", err)
				continue
			}
			running = true
			s.log.Info("boot over: watchdog on its running timeout", "timeout", s.timeout)
		}
		if err := s.healthy(); err != nil {
			if !booted {
				continue // still booting: the boot timeout covers it
			}
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

// arm sets the watchdog (SMS/OS timer, hard reset, expiration flags
// cleared) to timeout and starts it.
func (s *bmcService) arm(ctx context.Context, c bmcDevice, timeout time.Duration) error {
	cfg := ipmi.WatchdogConfig{Use: ipmi.TimerUseSMSOS, Action: ipmi.ActionHardReset, Timeout: timeout,
		ClearExpired: []ipmi.TimerUse{ipmi.TimerUseBIOSFRB2, ipmi.TimerUseBIOSPOST, ipmi.TimerUseOSLoad, ipmi.TimerUseSMSOS, ipmi.TimerUseOEM}}
	if err := c.SetWatchdog(ctx, cfg); err != nil {
		return fmt.Errorf("arm watchdog: %w", err)
	}
	if err := c.ResetWatchdog(ctx); err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	s.set(func(b *api.BMC) { b.WatchdogArmed, b.WatchdogTimeout, b.LastPet = true, timeout.String(), time.Now() })
	return nil
}

// sel writes one of the supervisor's own records to the SEL; the entry
// it makes is not reported back as a new SEL event.
func (s *bmcService) sel(ctx context.Context, c bmcDevice, r SELRecordKind, unit byte, what string) {
	id, err := c.LogEvent(ctx, r.event(unit))
	if err != nil {
		s.log.Warn("write SEL", "record", what, "error", err)
		return
	}
	s.mu.Lock()
	s.mon.ours(id)
	s.mu.Unlock()
	s.log.Info("SEL record written", "record", what, "id", id)
}

// readIdentity reads the baseboard FRU: its serial number is the
// appliance's identity.
func (s *bmcService) readIdentity(ctx context.Context, c bmcDevice) {
	fru, _, err := c.ReadFRU(ctx, 0)
	if err != nil {
		s.log.Warn("no FRU identity", "error", err)
		return
	}
	s.mu.Lock()
	s.fru = &fru
	s.mu.Unlock()
	s.log.Info("FRU identity", "board_serial", boardField(fru, func(b *ipmi.BoardInfo) string { return b.Serial }),
		"product_serial", productField(fru, func(p *ipmi.ProductInfo) string { return p.Serial }))
	s.set(func(b *api.BMC) {
		if fru.Board != nil {
			b.BoardSerial, b.BoardPart, b.BoardProduct = fru.Board.Serial, fru.Board.PartNumber, fru.Board.Product
		}
		if fru.Product != nil {
			b.ProductSerial, b.ProductName = fru.Product.Serial, fru.Product.Name
		}
	})
}

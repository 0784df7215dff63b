package ipmi

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TimerUse is what the watchdog timer is used for (bits 2:0 of the timer
// use byte); the BMC records an expiration flag per use.
type TimerUse byte

// Timer uses.
const (
	TimerUseBIOSFRB2 TimerUse = 1
	TimerUseBIOSPOST TimerUse = 2
	TimerUseOSLoad   TimerUse = 3
	TimerUseSMSOS    TimerUse = 4
	TimerUseOEM      TimerUse = 5
)

func (u TimerUse) String() string {
	switch u {
	case TimerUseBIOSFRB2:
		return "BIOS FRB2"
	case TimerUseBIOSPOST:
		return "BIOS/POST"
	case TimerUseOSLoad:
		return "OS Load"
	case TimerUseSMSOS:
		return "SMS/OS"
	case TimerUseOEM:
		return "OEM"
	}
	return fmt.Sprintf("reserved(%d)", byte(u))
}

// WatchdogAction is what the BMC does when the timer expires.
type WatchdogAction byte

// Timeout actions. QEMU's bmc-sim rejects PowerCycle (cc 0xCC).
const (
	ActionNone       WatchdogAction = 0
	ActionHardReset  WatchdogAction = 1
	ActionPowerDown  WatchdogAction = 2
	ActionPowerCycle WatchdogAction = 3
)

func (a WatchdogAction) String() string {
	switch a {
	case ActionNone:
		return "no action"
	case ActionHardReset:
		return "hard reset"
	case ActionPowerDown:
		return "power down"
	case ActionPowerCycle:
		return "power cycle"
	}
	return fmt.Sprintf("reserved(%d)", byte(a))
}

// PreTimeoutInterrupt is raised PreTimeout before expiry.
type PreTimeoutInterrupt byte

// Pre-timeout interrupts. QEMU's bmc-sim supports None, NMI and
// MessagingInterrupt; SMI is rejected (cc 0xCC).
const (
	PreTimeoutNone      PreTimeoutInterrupt = 0
	PreTimeoutSMI       PreTimeoutInterrupt = 1
	PreTimeoutNMI       PreTimeoutInterrupt = 2
	PreTimeoutMessaging PreTimeoutInterrupt = 3
)

func (p PreTimeoutInterrupt) String() string {
	switch p {
	case PreTimeoutNone:
		return "none"
	case PreTimeoutSMI:
		return "SMI"
	case PreTimeoutNMI:
		return "NMI/diagnostic interrupt"
	case PreTimeoutMessaging:
		return "messaging interrupt"
	}
	return fmt.Sprintf("reserved(%d)", byte(p))
}

// ErrWatchdogUninitialized is Reset Watchdog Timer's completion code 0x80:
// the timer was never set, so it cannot be started.
var ErrWatchdogUninitialized = errors.New("ipmi: watchdog not initialized")

// watchdogTick is the countdown unit.
const watchdogTick = 100 * time.Millisecond

// maxWatchdogTimeout is the largest countdown (0xffff ticks).
const maxWatchdogTimeout = 0xffff * watchdogTick

// WatchdogConfig is a Set Watchdog Timer request.
type WatchdogConfig struct {
	Use    TimerUse
	Action WatchdogAction
	// PreTimeout and PreTimeoutInterval: the interrupt fires this long
	// before expiry (whole seconds, at most 255 s, less than Timeout).
	PreTimeout         PreTimeoutInterrupt
	PreTimeoutInterval time.Duration
	// Timeout is the countdown; rounded up to 100 ms, at most 6553.5 s.
	Timeout time.Duration
	// DontStop keeps a running timer running through this Set (otherwise
	// Set stops it and Reset starts it).
	DontStop bool
	// DontLog suppresses the SEL entry on expiry.
	DontLog bool
	// ClearExpired lists the expiration flags to clear.
	ClearExpired []TimerUse
}

// encode builds the 6 request bytes.
func (w WatchdogConfig) encode() ([]byte, error) {
	if w.Use < TimerUseBIOSFRB2 || w.Use > TimerUseOEM {
		return nil, fmt.Errorf("timer use %d out of range", byte(w.Use))
	}
	if w.Action > ActionPowerCycle {
		return nil, fmt.Errorf("action %d out of range", byte(w.Action))
	}
	if w.PreTimeout > PreTimeoutMessaging {
		return nil, fmt.Errorf("pre-timeout interrupt %d out of range", byte(w.PreTimeout))
	}
	if w.Timeout <= 0 || w.Timeout > maxWatchdogTimeout {
		return nil, fmt.Errorf("timeout %v outside (0, %v]", w.Timeout, maxWatchdogTimeout)
	}
	ticks := (w.Timeout + watchdogTick - 1) / watchdogTick
	pre := (w.PreTimeoutInterval + time.Second - 1) / time.Second
	if w.PreTimeoutInterval < 0 || pre > 255 {
		return nil, fmt.Errorf("pre-timeout interval %v outside [0, 255s]", w.PreTimeoutInterval)
	}
	if w.PreTimeout != PreTimeoutNone && pre*time.Second >= w.Timeout {
		return nil, fmt.Errorf("pre-timeout interval %v not below timeout %v", w.PreTimeoutInterval, w.Timeout)
	}
	use := byte(w.Use)
	if w.DontStop {
		use |= 0x40
	}
	if w.DontLog {
		use |= 0x80
	}
	var clear byte
	for _, u := range w.ClearExpired {
		if u < TimerUseBIOSFRB2 || u > TimerUseOEM {
			return nil, fmt.Errorf("clear flag for timer use %d out of range", byte(u))
		}
		clear |= 1 << u
	}
	return []byte{
		use,
		byte(w.PreTimeout)<<4 | byte(w.Action),
		byte(pre),
		clear,
		byte(ticks),
		byte(ticks >> 8),
	}, nil
}

// SetWatchdog programs the watchdog (App 0x24). Unless DontStop is set and
// the timer runs, the timer is stopped until ResetWatchdog starts it.
func (c *Client) SetWatchdog(ctx context.Context, w WatchdogConfig) error {
	req, err := w.encode()
	if err != nil {
		return fmt.Errorf("set watchdog: %w", err)
	}
	if _, err := c.call(ctx, NetFnApp, 0x24, req, 0); err != nil {
		return fmt.Errorf("set watchdog (%s, %s, %v): %w", w.Use, w.Action, w.Timeout, err)
	}
	return nil
}

// ResetWatchdog starts or restarts the countdown (App 0x22): the "pet".
// A timer never set gives an error matching ErrWatchdogUninitialized.
func (c *Client) ResetWatchdog(ctx context.Context) error {
	_, err := c.call(ctx, NetFnApp, 0x22, nil, 0)
	if err != nil {
		if code, ok := codeOf(err); ok && code == 0x80 {
			return fmt.Errorf("reset watchdog: %w: %w", ErrWatchdogUninitialized, err)
		}
		return fmt.Errorf("reset watchdog: %w", err)
	}
	return nil
}

// DisarmWatchdog stops the timer: a Set with no action, no pre-timeout,
// SMS/OS use and "don't stop" clear. Expiration flags are left alone so a
// later boot can still read them.
func (c *Client) DisarmWatchdog(ctx context.Context) error {
	err := c.SetWatchdog(ctx, WatchdogConfig{Use: TimerUseSMSOS, Action: ActionNone, Timeout: watchdogTick * 10})
	if err != nil {
		return fmt.Errorf("disarm watchdog: %w", err)
	}
	return nil
}

// WatchdogState is the answer to Get Watchdog Timer (App 0x25).
type WatchdogState struct {
	Use                TimerUse
	Running            bool // bit 6 of the timer use byte
	DontLog            bool
	Action             WatchdogAction
	PreTimeout         PreTimeoutInterrupt
	PreTimeoutInterval time.Duration
	// Expired holds the raw expiration flags: bit n set means the timer
	// expired while used as TimerUse n. They persist across resets of the
	// host until a Set clears them.
	Expired   byte
	Timeout   time.Duration // initial countdown
	Remaining time.Duration // present countdown
}

// ExpiredFor reports whether the flag for use u is set.
func (s WatchdogState) ExpiredFor(u TimerUse) bool {
	return u <= 7 && s.Expired&(1<<u) != 0
}

// ExpiredUses lists the uses whose expiration flag is set.
func (s WatchdogState) ExpiredUses() []TimerUse {
	var out []TimerUse
	for u := TimerUseBIOSFRB2; u <= TimerUseOEM; u++ {
		if s.ExpiredFor(u) {
			out = append(out, u)
		}
	}
	return out
}

// ResetByWatchdog reports whether the last reset (or power-down) was most
// likely the watchdog's: the flag for the configured use is set and the
// configured action resets or powers the host off. Read it at boot, before
// re-arming clears the flags.
func (s WatchdogState) ResetByWatchdog() bool {
	return s.ExpiredFor(s.Use) && s.Action != ActionNone
}

// GetWatchdog reads the timer state.
func (c *Client) GetWatchdog(ctx context.Context) (WatchdogState, error) {
	r, err := c.call(ctx, NetFnApp, 0x25, nil, 8)
	if err != nil {
		return WatchdogState{}, fmt.Errorf("get watchdog: %w", err)
	}
	return parseWatchdog(r), nil
}

func parseWatchdog(r []byte) WatchdogState {
	return WatchdogState{
		Use:                TimerUse(r[0] & 0x07),
		Running:            r[0]&0x40 != 0,
		DontLog:            r[0]&0x80 != 0,
		Action:             WatchdogAction(r[1] & 0x07),
		PreTimeout:         PreTimeoutInterrupt(r[1] >> 4 & 0x07),
		PreTimeoutInterval: time.Duration(r[2]) * time.Second,
		Expired:            r[3] & 0x3e,
		Timeout:            time.Duration(uint16(r[4])|uint16(r[5])<<8) * watchdogTick,
		Remaining:          time.Duration(uint16(r[6])|uint16(r[7])<<8) * watchdogTick,
	}
}

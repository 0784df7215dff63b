package service

import (
	"fmt"
	"time"
)

// Defaults applied to zero fields of Spec and Policy.
const (
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultMultiplier     = 2.0
	DefaultMaxRestarts    = 10
	DefaultStableAfter    = 2 * time.Minute
	DefaultStopTimeout    = 10 * time.Second
	DefaultHealthInterval = 30 * time.Second
)

// RestartForever as Policy.MaxRestarts: never give up.
const RestartForever = -1

// Policy says how a failed service is restarted. Zero fields take the
// defaults above, so the zero Policy restarts after 1s, 2s, 4s, … capped
// at 1m, and gives up on the 10th consecutive failure.
type Policy struct {
	// InitialBackoff is the delay before the first restart.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay.
	MaxBackoff time.Duration
	// Multiplier grows the delay after each consecutive failure (≥ 1).
	Multiplier float64
	// MaxRestarts is the number of consecutive failures after which the
	// service is marked failed and no longer restarted (so it is restarted
	// at most MaxRestarts-1 times in a row). RestartForever never gives up.
	MaxRestarts int
	// StableAfter: a run that lasted at least this long before failing
	// resets the consecutive failure count, so a service that fails once
	// a day is never given up on and restarts after InitialBackoff.
	StableAfter time.Duration
}

// Backoff returns the delay before restarting after the given number of
// consecutive failures (1 for the first): InitialBackoff ×
// Multiplier^(failures-1), capped at MaxBackoff. Zero fields take the
// defaults.
func (p Policy) Backoff(failures int) time.Duration {
	p = p.withDefaults()
	d := float64(p.InitialBackoff)
	for i := 1; i < failures; i++ {
		d *= p.Multiplier
		if d >= float64(p.MaxBackoff) {
			return p.MaxBackoff
		}
	}
	return min(time.Duration(d), p.MaxBackoff)
}

func (p Policy) withDefaults() Policy {
	if p.InitialBackoff == 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(DefaultMaxBackoff, p.InitialBackoff)
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	if p.MaxRestarts == 0 {
		p.MaxRestarts = DefaultMaxRestarts
	}
	if p.StableAfter == 0 {
		p.StableAfter = DefaultStableAfter
	}
	return p
}

func (p Policy) validate() error {
	switch {
	case p.InitialBackoff < 0, p.MaxBackoff < 0, p.StableAfter < 0:
		return fmt.Errorf("negative restart duration")
	case p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("MaxBackoff %v below InitialBackoff %v", p.MaxBackoff, p.InitialBackoff)
	case p.Multiplier < 1:
		return fmt.Errorf("Multiplier %v below 1", p.Multiplier)
	case p.MaxRestarts < RestartForever:
		return fmt.Errorf("MaxRestarts %d", p.MaxRestarts)
	}
	return nil
}

// Spec places a service in the tree.
type Spec struct {
	Service Service
	// Deps names the services that must be ready before this one starts.
	Deps []string
	// Restart is the restart policy (zero: defaults).
	Restart Policy
	// StopTimeout bounds an orderly stop (DefaultStopTimeout if zero).
	StopTimeout time.Duration
	// HealthInterval is the period of health checks for a service that
	// implements HealthChecker (DefaultHealthInterval if zero).
	HealthInterval time.Duration
}

func (s Spec) withDefaults() Spec {
	s.Restart = s.Restart.withDefaults()
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.HealthInterval == 0 {
		s.HealthInterval = DefaultHealthInterval
	}
	return s
}

// validate checks a spec with defaults applied.
func (s Spec) validate() error {
	if err := s.Restart.validate(); err != nil {
		return err
	}
	if s.StopTimeout < 0 || s.HealthInterval < 0 {
		return fmt.Errorf("negative StopTimeout or HealthInterval")
	}
	return nil
}

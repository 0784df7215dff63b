package appliance

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/netcfg/ntp"
)

// timeService keeps the clock with the SNTP client (servers from the
// configuration's network.ntp.servers, else DHCP option 42): it steps
// once at the first synchronisation and slews after; events on
// synchronised, unsynchronised and large corrections. At an orderly
// shutdown (the service stopping) it writes the clock to the RTC.
type timeService struct {
	log     hclog.Logger
	emit    func(sev events.Severity, kind, msg string, fields map[string]string)
	servers func() []string
	// rtc is the hardware clock written at shutdown (nil: none).
	rtc    ntp.HardwareClock
	client *ntp.Client
}

func newTimeService(log hclog.Logger, emit func(events.Severity, string, string, map[string]string), servers func() []string, rtc ntp.HardwareClock) *timeService {
	s := &timeService{log: log, emit: emit, servers: servers, rtc: rtc}
	s.client = &ntp.Client{
		Servers: servers, Transport: ntp.UDP{}, Clock: ntp.System{},
		OnState: func(st ntp.Status) {
			if st.Synced {
				s.log.Info("clock synchronised", "server", st.Server, "offset", st.Offset, "stratum", st.Stratum)
				s.emit(events.Notice, "time.synced", fmt.Sprintf("clock synchronised to %s (offset %s)", st.Server, st.Offset),
					map[string]string{"server": st.Server, "offset": st.Offset.String()})
				return
			}
			s.log.Warn("clock not synchronised", "error", st.Err)
			s.emit(events.Warning, "time.unsynced", fmt.Sprintf("clock not synchronised: %v", st.Err), nil)
		},
		OnJump: func(j ntp.Jump) {
			how := "slewing"
			if j.Stepped {
				how = "stepped"
			}
			s.log.Warn("clock correction", "offset", j.Offset, "how", how, "server", j.Server)
			s.emit(events.Warning, "time.jump", fmt.Sprintf("clock %s by %s (server %s)", how, j.Offset, j.Server),
				map[string]string{"offset": j.Offset.String(), "stepped": fmt.Sprint(j.Stepped), "server": j.Server})
		},
		OnError: func(server string, err error) { s.log.Debug("ntp", "server", server, "error", err) },
	}
	return s
}

func (s *timeService) Name() string { return "time" }

func (s *timeService) Run(ctx context.Context, ready func()) error {
	ready()
	err := s.client.Run(ctx)
	if ctx.Err() != nil && s.rtc != nil {
		// Orderly stop: the RTC gets the system clock, so the next boot
		// starts close to the right time even before NTP answers.
		now := time.Now()
		if werr := s.rtc.Set(now); werr != nil {
			s.log.Warn("RTC not set", "error", werr)
		} else {
			s.log.Info("RTC set from the system clock", "time", now.UTC().Format(time.RFC3339), "synced", s.client.Status().Synced)
		}
	}
	return err
}

// status is the client's state for GET /v1/network.
func (s *timeService) status() *api.TimeStatus {
	st := s.client.Status()
	out := &api.TimeStatus{Servers: s.servers(), Synced: st.Synced, Server: st.Server, Stratum: st.Stratum, LastSync: st.LastSync}
	if out.Servers == nil {
		out.Servers = []string{}
	}
	if st.Server != "" {
		out.Offset, out.Delay, out.RootDistance = st.Offset.String(), st.Delay.String(), st.RootDistance.String()
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	return out
}

package netcfg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

var t0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// ack builds a server's ACK like QEMU's slirp sends.
func ack(t *testing.T, ip string, lease time.Duration, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP(ip)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.ParseIP("10.0.2.2")),
		dhcpv4.WithDNS(net.ParseIP("10.0.2.3")),
		dhcpv4.WithServerIP(net.ParseIP("10.0.2.2")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.2.2"))),
		dhcpv4.WithLeaseTime(uint32(lease / time.Second)),
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLeaseFrom(t *testing.T) {
	l, err := leaseFrom(ack(t, "10.0.2.15", 24*time.Hour,
		dhcpv4.WithOption(dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: []string{"example.net"}})),
		dhcpv4.WithOption(dhcpv4.OptNTPServers(net.ParseIP("10.0.2.4"), net.ParseIP("0.0.0.0"), net.ParseIP("192.0.2.123")))), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := Lease{
		Address: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}, Search: []string{"example.net"},
		NTP:    []netip.Addr{netip.MustParseAddr("10.0.2.4"), netip.MustParseAddr("192.0.2.123")},
		Server: netip.MustParseAddr("10.0.2.2"), Obtained: t0,
		Duration: 24 * time.Hour, Renew: 12 * time.Hour, Rebind: 21 * time.Hour,
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got %+v\nwant %+v", l, want)
	}
	if _, err := leaseFrom(ack(t, "0.0.0.0", time.Hour), t0); !errors.Is(err, ErrBadLease) {
		t.Errorf("no address: %v", err)
	}
	short, err := leaseFrom(ack(t, "10.0.2.15", time.Second), t0)
	if err != nil || short.Duration != 10*time.Second || short.Renew != 5*time.Second {
		t.Errorf("1 s lease: %+v %v", short, err)
	}
}

// script is a DHCP server conversation: each exchange returns the next
// ACK or error.
type script struct {
	t        *testing.T
	replies  []any // *dhcpv4.DHCPv4 or error
	requests int
	renews   int
	closed   bool
	// requested is the parameter request list each exchange would send.
	requested []dhcpv4.OptionCodeList
}

func (s *script) record(mods []dhcpv4.Modifier) {
	m, err := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1}, mods...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.requested = append(s.requested, m.ParameterRequestList())
}

func (s *script) next() (*nclient4.Lease, error) {
	if len(s.replies) == 0 {
		return nil, context.Canceled
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	if err, ok := r.(error); ok {
		return nil, err
	}
	return &nclient4.Lease{ACK: r.(*dhcpv4.DHCPv4)}, nil
}
func (s *script) Request(_ context.Context, mods ...dhcpv4.Modifier) (*nclient4.Lease, error) {
	s.requests++
	s.record(mods)
	return s.next()
}
func (s *script) Renew(_ context.Context, _ *nclient4.Lease, mods ...dhcpv4.Modifier) (*nclient4.Lease, error) {
	s.renews++
	s.record(mods)
	return s.next()
}
func (s *script) Close() error { s.closed = true; return nil }

func TestDHCPAcquiresRenewsAndStartsOverPastT2(t *testing.T) {
	f := newFakeKernel()
	f.port("eth0", mac(1)).up = true
	srv := &script{t: t, replies: []any{
		ack(t, "10.0.2.15", 100*time.Second, dhcpv4.WithOption(dhcpv4.OptNTPServers(net.ParseIP("10.0.2.4")))), // DISCOVER/REQUEST
		ack(t, "10.0.2.15", 100*time.Second), // renewal at T1
		errors.New("no answer"),              // renewal fails (before T2: renew again)
		errors.New("no answer"),              // fails again, now past T2: rebind from scratch
		ack(t, "10.0.2.16", 100*time.Second), // a new address
	}}
	now := t0
	var waits []time.Duration
	var events []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &DHCP{
		Link: "eth0", H: f,
		Now: func() time.Time { return now },
		After: func(w time.Duration) <-chan time.Time {
			waits = append(waits, w)
			if len(waits) == 3 {
				now = now.Add(90 * time.Second) // the clock passes T2 (87.5 s) during the retries
			}
			if len(srv.replies) == 0 {
				cancel()
				return make(chan time.Time) // only ctx.Done can fire now
			}
			c := make(chan time.Time, 1)
			c <- now
			return c
		},
		OnLease: func(l Lease, renewed bool) {
			events = append(events, l.Address.String()+map[bool]string{true: " renewed", false: " acquired"}[renewed])
		},
		OnError: func(err error) { events = append(events, "error: "+err.Error()) },
		dial:    func(string) (exchanger, error) { return srv, nil },
	}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	wantEvents := []string{"10.0.2.15/24 acquired", "10.0.2.15/24 renewed", "error: no answer", "error: no answer", "10.0.2.16/24 acquired"}
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("events = %q\nwant %q", events, wantEvents)
	}
	if srv.requests != 2 || srv.renews != 3 || !srv.closed {
		t.Errorf("requests %d renews %d closed %v", srv.requests, srv.renews, srv.closed)
	}
	if wantWaits := []time.Duration{50 * time.Second, 50 * time.Second, time.Second, 2 * time.Second, 50 * time.Second}; !reflect.DeepEqual(waits, wantWaits) {
		t.Errorf("waits = %v, want %v (T1, T1, backoff 1 s, 2 s, T1)", waits, wantWaits)
	}
	got := strings.Join(f.calls, "; ")
	for _, want := range []string{"addr replace eth0 10.0.2.15/24 lft 100", "route replace 0.0.0.0/0 via 10.0.2.2 dev 2", "addr replace eth0 10.0.2.16/24 lft 100", "addr del eth0 10.0.2.15/24"} {
		if !strings.Contains(got, want) {
			t.Errorf("kernel calls lack %q: %s", want, got)
		}
	}
	if a := f.byName("eth0").addrs; len(a) != 1 || a[0].String() != "10.0.2.16/24" {
		t.Errorf("addresses = %v", a)
	}
	if len(srv.requested) == 0 {
		t.Fatal("no exchanges")
	}
	for i, req := range srv.requested {
		if !req.Has(dhcpv4.OptionNTPServers) || !req.Has(dhcpv4.OptionDNSDomainSearchList) {
			t.Errorf("exchange %d does not ask for NTP servers and the search list: %v", i, req)
		}
	}
}

func TestDHCPRenewEveryShortensTheWait(t *testing.T) {
	f := newFakeKernel()
	f.port("eth0", mac(1)).up = true
	srv := &script{t: t, replies: []any{ack(t, "10.0.2.15", 24*time.Hour)}}
	ctx, cancel := context.WithCancel(context.Background())
	var waits []time.Duration
	d := &DHCP{
		Link: "eth0", H: f, Now: func() time.Time { return t0 }, RenewEvery: 2 * time.Second,
		After: func(w time.Duration) <-chan time.Time {
			waits = append(waits, w)
			cancel()
			return make(chan time.Time)
		},
		OnLease: func(Lease, bool) {}, OnError: func(error) {},
		dial: func(string) (exchanger, error) { return srv, nil },
	}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 2*time.Second {
		t.Fatalf("waits = %v", waits)
	}
}

package ntp

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

// testServer is an NTP server on 127.0.0.1 whose clock runs skew ahead
// of the real one; reply can rewrite or drop its answers.
type testServer struct {
	addr string

	mu    sync.Mutex
	skew  time.Duration
	reply func(*Packet) bool // false: stay silent
	asked int
}

func startServer(t *testing.T, skew time.Duration) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: pc.LocalAddr().String(), skew: skew}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			recv := time.Now().Add(s.skew)
			s.asked++
			req, err := Decode(buf[:n])
			if err != nil || req.Mode != ModeClient {
				s.mu.Unlock()
				continue
			}
			p := serverReply(req.Transmit, recv, time.Now().Add(s.skew))
			send := s.reply == nil || s.reply(&p)
			s.mu.Unlock()
			if send {
				pc.WriteTo(p.Encode(), from)
			}
		}
	}()
	return s
}

func (s *testServer) set(skew time.Duration, reply func(*Packet) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew, s.reply = skew, reply
}

// fakeClock is the local clock: real time plus an offset the client's
// steps move; slews are recorded; waits are handed to the test, which
// ends each by sending on tick.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
	steps  []time.Duration
	slews  []time.Duration
	errs   []time.Duration // the maxError of each slew
	waits  chan time.Duration
	tick   chan time.Time
}

func newFakeClock(offset time.Duration) *fakeClock {
	return &fakeClock{offset: offset, waits: make(chan time.Duration, 16), tick: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}
func (c *fakeClock) After(d time.Duration) <-chan time.Time { c.waits <- d; return c.tick }
func (c *fakeClock) Step(off time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += off
	c.steps = append(c.steps, off)
	return nil
}
func (c *fakeClock) Slew(off, maxErr, poll time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slews = append(c.slews, off)
	c.errs = append(c.errs, maxErr)
	return nil
}
func (c *fakeClock) record() (steps, slews []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.steps...), append([]time.Duration(nil), c.slews...)
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -50*time.Millisecond && d < 50*time.Millisecond
}

func TestQueryOverUDP(t *testing.T) {
	srv := startServer(t, 0)
	c := &Client{Transport: UDP{}, Clock: newFakeClock(-10 * time.Second), Timeout: time.Second}
	s, err := c.Query(context.Background(), srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Offset, 10*time.Second) || s.Delay < 0 || s.Delay > 50*time.Millisecond || s.Server != srv.addr || s.Stratum != 2 {
		t.Fatalf("sample %+v", s)
	}
	// Bad answers are refused, and silence times out.
	tests := []struct {
		name  string
		reply func(*Packet) bool
		want  error
	}{
		{"spoofed origin", func(p *Packet) bool { p.Origin ^= 1; return true }, ErrBadReply},
		{"stratum 16", func(p *Packet) bool { p.Stratum = 16; return true }, ErrServerUnsynced},
		{"zero transmit", func(p *Packet) bool { p.Transmit = 0; return true }, ErrBadReply},
		{"leap alarm", func(p *Packet) bool { p.Leap = LeapAlarm; return true }, ErrServerUnsynced},
		{"silence", func(p *Packet) bool { return false }, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(0, tc.reply)
			c.Timeout = 200 * time.Millisecond
			if _, err := c.Query(context.Background(), srv.addr); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// Run steps a large offset once, at the first synchronisation, and
// slews afterwards even when the offset is large again; it says when
// the clock is synchronised, jumps, and is no longer synchronised.
func TestRunStepsOnceThenSlews(t *testing.T) {
	srv := startServer(t, 0)
	clk := newFakeClock(-42 * time.Second)
	var mu sync.Mutex
	var states []Status
	var jumps []Jump
	c := &Client{
		Servers: func() []string { return []string{srv.addr} }, Transport: UDP{}, Clock: clk,
		Poll: 64 * time.Second, Timeout: 200 * time.Millisecond, UnsyncAfter: 2,
		OnState: func(s Status) { mu.Lock(); states = append(states, s); mu.Unlock() },
		OnJump:  func(j Jump) { mu.Lock(); jumps = append(jumps, j); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	next := func() time.Duration {
		t.Helper()
		select {
		case w := <-clk.waits:
			return w
		case <-time.After(5 * time.Second):
			t.Fatal("the client did not finish a round")
			return 0
		}
	}
	// Round 1: 42 s behind: stepped, then the kernel told it is synchronised.
	if w := next(); w != 64*time.Second {
		t.Errorf("wait after a sync %s", w)
	}
	steps, slews := clk.record()
	if len(steps) != 1 || !near(steps[0], 42*time.Second) || len(slews) != 1 || slews[0] != 0 {
		t.Fatalf("round 1: steps %v slews %v", steps, slews)
	}
	if st := c.Status(); !st.Synced || st.Server != srv.addr || !near(st.Offset, 42*time.Second) {
		t.Errorf("status %+v", st)
	}
	// Round 2: 5 ms off: slewed.
	srv.set(5*time.Millisecond, nil)
	clk.tick <- time.Now()
	next()
	// Round 3: the clock is 3 s off again (a VM paused): reported as a
	// jump, but slewed, never stepped twice.
	srv.set(3*time.Second, nil)
	clk.tick <- time.Now()
	next()
	steps, slews = clk.record()
	if len(steps) != 1 || len(slews) != 3 || !near(slews[1], 5*time.Millisecond) || !near(slews[2], 3*time.Second) {
		t.Fatalf("rounds 2-3: steps %v slews %v", steps, slews)
	}
	// Rounds 4-5: the server falls silent; after two failed rounds the
	// clock is unsynchronised, and retries come sooner.
	srv.set(0, func(*Packet) bool { return false })
	clk.tick <- time.Now()
	if w := next(); w != 64*time.Second {
		t.Errorf("wait after one failure while synchronised %s", w)
	}
	clk.tick <- time.Now()
	if w := next(); w != 2*time.Second {
		t.Errorf("wait after losing sync %s", w)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 || !states[0].Synced || states[1].Synced || !errors.Is(states[1].Err, ErrNoReply) {
		t.Errorf("states %+v", states)
	}
	if len(jumps) != 2 || !jumps[0].Stepped || !near(jumps[0].Offset, 42*time.Second) || jumps[1].Stepped || !near(jumps[1].Offset, 3*time.Second) {
		t.Errorf("jumps %+v", jumps)
	}
}

func TestRoundTakesTheMedianOfThree(t *testing.T) {
	a, b, falseticker := startServer(t, time.Second), startServer(t, time.Second+10*time.Millisecond), startServer(t, time.Hour)
	c := &Client{Servers: func() []string { return []string{falseticker.addr, a.addr, b.addr} }, Transport: UDP{}, Clock: newFakeClock(0), Timeout: time.Second}
	s, err := c.Round(context.Background())
	if err != nil || !near(s.Offset, time.Second) {
		t.Fatalf("round: %+v %v", s, err)
	}
}

func TestRoundDropsServersThatDenyService(t *testing.T) {
	deny, good := startServer(t, 0), startServer(t, 0)
	deny.set(0, func(p *Packet) bool { p.Stratum, p.RefID = 0, [4]byte{'D', 'E', 'N', 'Y'}; return true })
	var errs []string
	c := &Client{Servers: func() []string { return []string{deny.addr, good.addr} }, Transport: UDP{}, Clock: newFakeClock(0),
		Timeout: time.Second, OnError: func(srv string, err error) { errs = append(errs, srv) }}
	for i := 0; i < 3; i++ {
		if s, err := c.Round(context.Background()); err != nil || s.Server != good.addr {
			t.Fatalf("round %d: %+v %v", i, s, err)
		}
	}
	deny.mu.Lock()
	asked := deny.asked
	deny.mu.Unlock()
	if asked != 1 || !reflect.DeepEqual(errs, []string{deny.addr}) {
		t.Fatalf("the denying server was asked %d times; errors from %q", asked, errs)
	}
}

// fakeTransport fails every exchange.
type fakeTransport struct{ err error }

func (f fakeTransport) Exchange(context.Context, string, []byte, func() time.Time) ([]byte, time.Time, time.Time, error) {
	return nil, time.Time{}, time.Time{}, f.err
}

// Without any answer the clock is reported unsynchronised once, and
// the client retries at 2, 4, 8… seconds up to the poll interval.
func TestRunWithoutAnswersBacksOff(t *testing.T) {
	clk := newFakeClock(0)
	var states []Status
	servers := []string{}
	var mu sync.Mutex
	c := &Client{
		Servers:   func() []string { mu.Lock(); defer mu.Unlock(); return servers },
		Transport: fakeTransport{errors.New("network is unreachable")}, Clock: clk, Poll: 16 * time.Second,
		OnState: func(s Status) { states = append(states, s) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	var waits []time.Duration
	for i := 0; i < 6; i++ {
		waits = append(waits, <-clk.waits)
		if i == 1 {
			mu.Lock()
			servers = []string{"192.0.2.123"} // DHCP offered one
			mu.Unlock()
		}
		if i < 5 {
			clk.tick <- time.Now()
		}
	}
	cancel()
	<-done
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second, 16 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if len(states) != 1 || states[0].Synced || !errors.Is(states[0].Err, ErrNoReply) {
		t.Errorf("states %+v", states)
	}
	if steps, slews := clk.record(); len(steps)+len(slews) != 0 {
		t.Errorf("the clock was touched: %v %v", steps, slews)
	}
}

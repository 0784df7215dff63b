package ntp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// Transport is the UDP exchange with a server; UDP is the real one.
type Transport interface {
	// Exchange sends req to server ("host" or "host:port", port 123 by
	// default) and returns the first reply, with now() read just before
	// sending and just after receiving.
	Exchange(ctx context.Context, server string, req []byte, now func() time.Time) (reply []byte, sent, received time.Time, err error)
}

// UDP exchanges datagrams over a connected UDP socket, so only the
// server's own address can answer.
type UDP struct{}

// Exchange implements Transport.
func (UDP) Exchange(ctx context.Context, server string, req []byte, now func() time.Time) ([]byte, time.Time, time.Time, error) {
	addr := server
	if _, _, err := net.SplitHostPort(server); err != nil {
		addr = net.JoinHostPort(server, "123")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr) // resolves before the clock is read
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	sent := now()
	if _, err := conn.Write(req); err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	received := now()
	if err != nil {
		var ne net.Error
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, time.Time{}, time.Time{}, ctx.Err()
		}
		if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			// The socket's deadline is the context's; it may fire a
			// moment before the context says so.
			return nil, time.Time{}, time.Time{}, fmt.Errorf("no reply from %s: %w", addr, context.DeadlineExceeded)
		}
		return nil, time.Time{}, time.Time{}, err
	}
	return buf[:n], sent, received, nil
}

// Status is the client's view of the clock, for `keep ctl net`.
type Status struct {
	Synced bool
	// Server answered the last successful round; Offset, Delay and
	// RootDistance are its measurement.
	Server                      string
	Stratum                     int
	Offset, Delay, RootDistance time.Duration
	LastSync                    time.Time
	// Err is why the clock is not synchronised.
	Err error
}

// Jump is a large clock correction.
type Jump struct {
	// Offset is the correction: positive moves the clock forward.
	Offset time.Duration
	// Stepped says the client set the clock at once (the first
	// synchronisation); otherwise it found the clock this far off later
	// (someone or something moved it) and slews, at most 0.5 ms per
	// second.
	Stepped bool
	Server  string
}

// Client is an SNTP client (RFC 5905 client mode, RFC 4330 checks). It
// steps the clock at most once, at its first synchronisation and only
// when the offset is at least StepThreshold; after that it only slews.
// The zero values of the tunables mean their defaults.
type Client struct {
	// Servers returns the servers to ask, called every round so servers
	// learned later (from DHCP) are used.
	Servers   func() []string
	Transport Transport
	Clock     Clock
	// StepThreshold is the smallest offset stepped (default 128 ms).
	StepThreshold time.Duration
	// Poll is the time between rounds once synchronised (default
	// 64 s); before, retries start at 2 s and double up to Poll.
	Poll time.Duration
	// Timeout bounds one query (default 2 s).
	Timeout time.Duration
	// UnsyncAfter is how many failed rounds in a row make the clock
	// unsynchronised (default 4).
	UnsyncAfter int
	// OnState is called when the clock becomes synchronised or
	// unsynchronised (also once, if the first rounds all fail).
	OnState func(Status)
	// OnJump is called for each large correction.
	OnJump func(Jump)
	// OnError is called for each failed query or correction.
	OnError func(server string, err error)
	// Rand makes the request nonces (default crypto/rand).
	Rand io.Reader

	mu       sync.Mutex
	status   Status
	reported bool // OnState has been called at least once
	started  bool // a round succeeded: stepping is over
	denied   map[string]bool
}

// ErrNoServers is returned when there is no server to ask.
var ErrNoServers = errors.New("ntp: no time servers configured or offered by DHCP")

// ErrNoReply is returned when no server gave a usable reply.
var ErrNoReply = errors.New("ntp: no usable reply from any server")

func (c *Client) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return 64 * time.Second
}

// Status is the current state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Run keeps the clock synchronised until ctx is done.
func (c *Client) Run(ctx context.Context) error {
	unsyncAfter := c.UnsyncAfter
	if unsyncAfter <= 0 {
		unsyncAfter = 4
	}
	fails := 0
	retry := 2 * time.Second
	for {
		s, err := c.Round(ctx)
		if err == nil {
			err = c.correct(s)
			if err != nil {
				c.report("", err)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := c.poll()
		if err == nil {
			fails, retry = 0, 2*time.Second
		} else {
			fails++
			if fails >= unsyncAfter {
				c.unsynced(err)
			}
			if !c.Status().Synced {
				wait, retry = min(retry, wait), min(retry*2, wait)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.Clock.After(wait):
		}
	}
}

func (c *Client) report(server string, err error) {
	if c.OnError != nil {
		c.OnError(server, err)
	}
}

// Round asks every server once and combines the good answers: the
// median offset of three or more, else the answer with the smallest
// root distance.
func (c *Client) Round(ctx context.Context) (Sample, error) {
	var servers []string
	if c.Servers != nil {
		servers = c.Servers()
	}
	var samples []Sample
	var errs []error
	asked := 0
	for _, srv := range servers {
		c.mu.Lock()
		denied := c.denied[srv]
		c.mu.Unlock()
		if denied {
			continue
		}
		asked++
		s, err := c.Query(ctx, srv)
		if err != nil {
			if ctx.Err() != nil {
				return Sample{}, ctx.Err()
			}
			var kiss *KissError
			if errors.As(err, &kiss) && kiss.Fatal() {
				c.mu.Lock()
				if c.denied == nil {
					c.denied = map[string]bool{}
				}
				c.denied[srv] = true
				c.mu.Unlock()
			}
			err = fmt.Errorf("%s: %w", srv, err)
			errs = append(errs, err)
			c.report(srv, err)
			continue
		}
		samples = append(samples, s)
	}
	if asked == 0 {
		c.report("", ErrNoServers)
		return Sample{}, ErrNoServers
	}
	if len(samples) == 0 {
		return Sample{}, fmt.Errorf("%w: %w", ErrNoReply, errors.Join(errs...))
	}
	if len(samples) >= 3 {
		sort.Slice(samples, func(i, j int) bool { return samples[i].Offset < samples[j].Offset })
		return samples[len(samples)/2], nil
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].RootDistance < samples[j].RootDistance })
	return samples[0], nil
}

// Query measures the clock against one server.
func (c *Client) Query(ctx context.Context, server string) (Sample, error) {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	var nonce [8]byte
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return Sample{}, fmt.Errorf("ntp: nonce: %w", err)
	}
	// The transmit timestamp is a random nonce rather than our clock:
	// the server echoes it as the origin, which is all the client needs,
	// and it tells an off-path attacker nothing.
	sent := Timestamp(binary.BigEndian.Uint64(nonce[:]) | 1)
	req := Packet{Version: 4, Mode: ModeClient, Transmit: sent}.Encode()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, t1, t4, err := c.Transport.Exchange(qctx, server, req, c.Clock.Now)
	if err != nil {
		return Sample{}, fmt.Errorf("ntp exchange: %w", err)
	}
	reply, err := Decode(raw)
	if err != nil {
		return Sample{}, err
	}
	if err := Check(reply, sent); err != nil {
		return Sample{}, err
	}
	return Measure(server, reply, t1, t4), nil
}

// correct applies a round's sample: a step the first time if it is
// large, a slew otherwise.
func (c *Client) correct(s Sample) error {
	threshold := c.StepThreshold
	if threshold <= 0 {
		threshold = 128 * time.Millisecond
	}
	c.mu.Lock()
	first := !c.started
	c.started = true
	c.mu.Unlock()
	large := s.Offset >= threshold || s.Offset <= -threshold
	slew := s.Offset
	if first && large {
		if err := c.Clock.Step(s.Offset); err != nil {
			return fmt.Errorf("step the clock by %s: %w", s.Offset, err)
		}
		if c.OnJump != nil {
			c.OnJump(Jump{Offset: s.Offset, Stepped: true, Server: s.Server})
		}
		slew = 0 // the step corrected it; the slew below tells the kernel it is synchronised
	} else if large && c.OnJump != nil {
		c.OnJump(Jump{Offset: s.Offset, Server: s.Server})
	}
	if err := c.Clock.Slew(slew, s.RootDistance, c.poll()); err != nil {
		return fmt.Errorf("slew the clock by %s: %w", slew, err)
	}
	c.mu.Lock()
	was := c.status.Synced
	c.status = Status{Synced: true, Server: s.Server, Stratum: s.Stratum, Offset: s.Offset, Delay: s.Delay,
		RootDistance: s.RootDistance, LastSync: c.Clock.Now()}
	st, notify := c.status, !was || !c.reported
	c.reported = true
	c.mu.Unlock()
	if notify && c.OnState != nil {
		c.OnState(st)
	}
	return nil
}

func (c *Client) unsynced(err error) {
	c.mu.Lock()
	notify := c.status.Synced || !c.reported
	c.status.Synced, c.status.Err = false, err
	c.reported = true
	st := c.status
	c.mu.Unlock()
	if notify && c.OnState != nil {
		c.OnState(st)
	}
}

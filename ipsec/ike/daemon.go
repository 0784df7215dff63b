package ike

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"keep/ipsec/ike/msg"
)

// DaemonConfig configures a Daemon.
type DaemonConfig struct {
	Options
	Conns []Config
	// Addr is the local (WAN) address the IKE sockets bind to; every
	// Config.Local must use it. Zero: the first connection's Local.
	Addr netip.Addr
	// Port and NATTPort default to 500 and 4500.
	Port, NATTPort uint16
	// Conn, NATTConn: already bound sockets to use instead (for example
	// opened inside a network namespace). The Daemon owns and closes them.
	Conn, NATTConn *net.UDPConn
	// TickInterval is the timer resolution (default 100 ms).
	TickInterval time.Duration
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
}

// Daemon runs an Engine on UDP sockets 500 and 4500: it owns the
// sockets, one reader goroutine per socket, a kernel event goroutine and
// the timer loop, all started by Run and stopped before Run returns. The
// engine is driven under one mutex.
type Daemon struct {
	cfg DaemonConfig
	// closing and received: datagrams that arrived after Run began to
	// shut down (the answers to its Deletes).
	closing    atomic.Bool
	received   atomic.Int64
	mu         sync.Mutex
	eng        *Engine
	conn, natt *net.UDPConn
	addr       netip.Addr
	now        func() time.Time
}

// NewDaemon validates the configuration and opens the sockets: both get
// bypass socket policies (Kernel.BypassSocket) and the 4500 socket is
// made the ESP-in-UDP receiver (Kernel.EnableUDPEncap).
func NewDaemon(cfg DaemonConfig) (*Daemon, error) {
	eng, err := NewEngine(cfg.Options, cfg.Conns...)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, eng: eng, now: cfg.Clock, addr: cfg.Addr}
	if d.now == nil {
		d.now = time.Now
	}
	if !d.addr.IsValid() && len(eng.conns) > 0 {
		d.addr = eng.conns[0].cfg.Local.Addr()
	}
	if cfg.Port == 0 {
		cfg.Port = 500
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = NATTPort
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	d.cfg = cfg
	d.conn, d.natt = cfg.Conn, cfg.NATTConn
	if d.conn == nil {
		if d.conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.addr, cfg.Port))); err != nil {
			return nil, fmt.Errorf("ike: listen %d: %w", cfg.Port, err)
		}
	}
	if d.natt == nil {
		if d.natt, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.addr, cfg.NATTPort))); err != nil {
			d.conn.Close()
			return nil, fmt.Errorf("ike: listen %d: %w", cfg.NATTPort, err)
		}
	}
	k := cfg.Kernel
	for _, c := range []*net.UDPConn{d.conn, d.natt} {
		if err := k.BypassSocket(c); err != nil {
			d.close()
			return nil, fmt.Errorf("ike: bypass policy on IKE socket: %w", err)
		}
	}
	if err := k.EnableUDPEncap(d.natt); err != nil {
		d.close()
		return nil, fmt.Errorf("ike: UDP_ENCAP on the 4500 socket: %w", err)
	}
	return d, nil
}

func (d *Daemon) close() {
	d.conn.Close()
	d.natt.Close()
}

// Run drives the engine until ctx is done, then sends Deletes, removes
// the SAs and closes the sockets.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, c := range []*net.UDPConn{d.conn, d.natt} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.read(rctx, c)
		}()
	}
	if evs, err := d.cfg.Kernel.Events(rctx); err == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range evs {
				d.mu.Lock()
				d.eng.KernelEvent(rctx, d.now(), ev)
				d.flush()
				d.mu.Unlock()
			}
		}()
	} else {
		d.eng.log.Warn("no kernel events (soft expires will not trigger rekeys)", "error", err)
	}
	d.mu.Lock()
	d.eng.Tick(rctx, d.now())
	d.flush()
	d.mu.Unlock()
	t := time.NewTicker(d.cfg.TickInterval)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			d.mu.Lock()
			d.eng.Tick(rctx, d.now())
			d.flush()
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	d.received.Store(0)
	d.closing.Store(true)
	deletes := d.eng.Close(context.Background(), d.now())
	d.flush()
	d.mu.Unlock()
	// Keep the sockets open until the peer has answered the Deletes (or
	// shutdownLinger passes): a socket closed at once would have the
	// kernel answer those replies with ICMP port unreachable.
	for deadline := time.Now().Add(shutdownLinger); deletes > 0 && d.received.Load() < int64(deletes) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	d.close() // unblocks the readers
	wg.Wait()
	return nil
}

// shutdownLinger bounds the wait for the answers to the Deletes sent at
// shutdown.
const shutdownLinger = time.Second

func (d *Daemon) read(ctx context.Context, c *net.UDPConn) {
	buf := make([]byte, 65536)
	lp := netip.AddrPortFrom(d.addr, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	natt := c == d.natt
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		data := buf[:n]
		if natt {
			kind, ike := msg.ClassifyUDP4500(data)
			if kind != msg.UDPIKE {
				continue
			}
			data = ike
		}
		pkt := Packet{Local: lp, Remote: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Data: append([]byte(nil), data...)}
		if d.closing.Load() {
			d.received.Add(1) // an answer to a Delete, dropped below (the SAs are gone)
		}
		d.mu.Lock()
		d.eng.Receive(ctx, d.now(), pkt)
		d.flush()
		d.mu.Unlock()
	}
}

// flush sends the engine's output; d.mu is held.
func (d *Daemon) flush() {
	for _, p := range d.eng.Outgoing() {
		to := net.UDPAddrFromAddrPort(p.Remote)
		var err error
		if p.Keepalive {
			_, err = d.natt.WriteToUDP(p.Data, to)
		} else if p.Local.Port() == d.cfg.NATTPort || p.Local.Port() == NATTPort {
			_, err = d.natt.WriteToUDP(msg.AppendNonESPMarker(nil, p.Data), to)
		} else {
			_, err = d.conn.WriteToUDP(p.Data, to)
		}
		if err != nil {
			d.eng.log.Debug("send failed", "to", p.Remote, "error", err)
		}
	}
}

// Initiate brings the named connection up (see Engine.Initiate).
func (d *Daemon) Initiate(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.flush()
	return d.eng.Initiate(ctx, d.now(), name)
}

// Terminate takes the named connection down (see Engine.Terminate).
func (d *Daemon) Terminate(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.flush()
	return d.eng.Terminate(ctx, d.now(), name)
}

// RekeyChild and RekeyIKE start rekeys (see the Engine methods).
func (d *Daemon) RekeyChild(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.flush()
	return d.eng.RekeyChild(ctx, d.now(), name)
}

// RekeyIKE starts an IKE SA rekey.
func (d *Daemon) RekeyIKE(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.flush()
	return d.eng.RekeyIKE(ctx, d.now(), name)
}

// Status returns the engine's snapshot.
func (d *Daemon) Status(ctx context.Context) Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng.Status(ctx)
}

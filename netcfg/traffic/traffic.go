// Package traffic counts the box's network bytes by traffic class:
// agent ingest, replication, management. The kernel's link counters say
// how much crosses a port, not what it was for; the services that own the
// sockets know. Each service wraps its listeners and connections with its
// class (Meter.Listener, Meter.Conn), and the network service samples the
// totals into rates next to the links' (appliance: rateSampler).
//
// Counting is two atomic adds per Read or Write, on the payload the
// application sees (TLS or IPsec overhead and TCP/IP headers are not
// counted; the link counters carry those).
package traffic

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
)

// Class is a kind of traffic.
type Class string

// The classes the appliance tags.
const (
	// Ingest: backups arriving from agents (and restores sent to them).
	Ingest Class = "ingest"
	// Replication: chunks sent to and from the remote vault.
	Replication Class = "replication"
	// Management: the API (and the NOC over the tunnel).
	Management Class = "management"
)

// Counters are a class's byte totals since boot. Rx is what the box
// received, Tx what it sent.
type Counters struct {
	RxBytes, TxBytes uint64
	Conns            uint64 // connections accepted or made
}

type counters struct {
	rx, tx, conns atomic.Uint64
}

// Meter holds the per-class totals. The zero value is ready to use.
type Meter struct {
	mu      sync.Mutex
	classes map[Class]*counters
}

func (m *Meter) class(c Class) *counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.classes == nil {
		m.classes = map[Class]*counters{}
	}
	k := m.classes[c]
	if k == nil {
		k = &counters{}
		m.classes[c] = k
	}
	return k
}

// Snapshot returns every class's totals.
func (m *Meter) Snapshot() map[Class]Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Class]Counters, len(m.classes))
	for c, k := range m.classes {
		out[c] = Counters{RxBytes: k.rx.Load(), TxBytes: k.tx.Load(), Conns: k.conns.Load()}
	}
	return out
}

// Classes returns the classes seen so far, sorted.
func (m *Meter) Classes() []Class {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Class
	for c := range m.classes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Conn counts c's traffic as class cl.
func (m *Meter) Conn(c net.Conn, cl Class) net.Conn {
	k := m.class(cl)
	k.conns.Add(1)
	return &conn{Conn: c, k: k}
}

// Listener counts the traffic of every connection l accepts as class cl.
func (m *Meter) Listener(l net.Listener, cl Class) net.Listener {
	return &listener{Listener: l, m: m, cl: cl}
}

type conn struct {
	net.Conn
	k *counters
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.k.rx.Add(uint64(n))
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.k.tx.Add(uint64(n))
	return n, err
}

type listener struct {
	net.Listener
	m  *Meter
	cl Class
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.m.Conn(c, l.cl), nil
}

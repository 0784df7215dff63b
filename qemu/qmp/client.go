package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client is a connection to one QEMU monitor. It is safe for concurrent use:
// commands carry ids, so several may be in flight and each gets its own reply.
// QEMU serves one client per QMP socket at a time.
type Client struct {
	conn     net.Conn
	dec      *json.Decoder
	greeting Greeting

	wmu sync.Mutex // serialises writes to conn

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	events  []Event
	seq     uint64        // sequence number of the newest event
	wake    chan struct{} // closed and replaced on every event and at the end
	err     error         // set once the connection has ended; wraps ErrClosed

	done chan struct{} // closed when the reader goroutine has returned
}

// Greeting is what QEMU says when a client connects.
type Greeting struct {
	QMP struct {
		Version struct {
			QEMU struct {
				Major int `json:"major"`
				Minor int `json:"minor"`
				Micro int `json:"micro"`
			} `json:"qemu"`
			Package string `json:"package"`
		} `json:"version"`
		Capabilities []string `json:"capabilities"`
	} `json:"QMP"`
}

// reply is the outcome of one command.
type reply struct {
	ret json.RawMessage
	err error
}

// message is any line QEMU sends after the greeting.
type message struct {
	Return    json.RawMessage `json:"return"`
	Error     *Error          `json:"error"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
	ID json.RawMessage `json:"id"`
}

// request is one command line sent to QEMU.
type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id"`
}

// Dial connects to the QMP unix socket at path, reads the greeting and
// negotiates capabilities. ctx bounds the handshake only.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: dial %s: %w", path, err)
	}
	c, err := NewClient(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient performs the QMP handshake on conn (greeting, qmp_capabilities)
// and takes ownership of it. ctx bounds the handshake only. On error conn is
// left open for the caller to close.
func NewClient(ctx context.Context, conn net.Conn) (*Client, error) {
	c := &Client{
		conn:    conn,
		dec:     json.NewDecoder(conn),
		pending: map[uint64]chan reply{},
		wake:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := c.handshake(ctx); err != nil {
		return nil, err
	}
	go c.read()
	return c, nil
}

// handshake reads the greeting and enters command mode, before the reader runs.
func (c *Client) handshake(ctx context.Context) error {
	defer interruptible(ctx, c.conn.SetDeadline)()
	if err := c.dec.Decode(&c.greeting); err != nil {
		return fmt.Errorf("qmp: read greeting: %w", ctxErr(ctx, err))
	}
	if c.greeting.QMP.Capabilities == nil {
		return errors.New("qmp: read greeting: not a QMP greeting")
	}
	if err := c.write(ctx, request{Execute: "qmp_capabilities"}); err != nil {
		return fmt.Errorf("qmp: qmp_capabilities: %w", ctxErr(ctx, err))
	}
	for {
		var m message
		if err := c.dec.Decode(&m); err != nil {
			return fmt.Errorf("qmp: qmp_capabilities: %w", ctxErr(ctx, err))
		}
		switch {
		case m.Event != "":
			c.mu.Lock()
			c.queueEvent(m.event())
			c.mu.Unlock()
		case m.Error != nil:
			return fmt.Errorf("qmp: qmp_capabilities: %w", m.Error)
		default:
			return nil
		}
	}
}

// ctxErr prefers the context's error over the I/O error its deadline caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Greeting returns the greeting QEMU sent.
func (c *Client) Greeting() Greeting { return c.greeting }

// Execute runs one command and returns its "return" value. args is marshalled
// as "arguments" (nil for none). A QEMU error reply is returned as *Error; a
// connection that ends first yields an error wrapping ErrClosed. If ctx ends
// first, Execute returns ctx's error and the late reply is discarded.
func (c *Client) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	c.nextID++
	id := c.nextID
	ch := make(chan reply, 1)
	c.pending[id] = ch
	c.mu.Unlock()

	if err := c.write(ctx, request{Execute: command, Arguments: args, ID: id}); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("qmp %s: %w", command, ctxErr(ctx, err))
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, r.err)
		}
		return r.ret, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("qmp %s: %w", command, ctx.Err())
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// write sends one request line, giving up when ctx ends.
func (c *Client) write(ctx context.Context, r request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	defer interruptible(ctx, c.conn.SetWriteDeadline)()
	_, err = c.conn.Write(b)
	return err
}

// interruptible makes blocking I/O on a connection return when ctx ends, by
// moving its deadline (through set) into the past. The returned function undoes
// it and must be called once the I/O is over.
func interruptible(ctx context.Context, set func(time.Time) error) (undo func()) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
			set(time.Time{})
		}
	}
}

// read is the client's only reader; it runs until the connection ends.
func (c *Client) read() {
	defer close(c.done)
	for {
		var m message
		if err := c.dec.Decode(&m); err != nil {
			c.end(err)
			return
		}
		c.dispatch(m)
	}
}

func (c *Client) dispatch(m message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Event != "" {
		c.queueEvent(m.event())
		return
	}
	if m.Return == nil && m.Error == nil {
		return // neither reply nor event: ignore
	}
	id, err := strconv.ParseUint(string(m.ID), 10, 64)
	ok := err == nil
	if m.ID == nil {
		// QEMU omits the id only when it could not parse the request; the
		// monitor answers in order, so it belongs to the oldest one.
		for k := range c.pending {
			if !ok || k < id {
				id, ok = k, true
			}
		}
	}
	ch, found := c.pending[id]
	if !ok || !found {
		return // its caller gave up
	}
	delete(c.pending, id)
	if m.Error != nil {
		ch <- reply{err: m.Error}
	} else {
		ch <- reply{ret: m.Return}
	}
}

func (m message) event() Event {
	e := Event{Name: m.Event, Data: m.Data}
	if m.Timestamp != nil {
		e.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
	}
	return e
}

// end records why the connection ended and fails everything waiting on it.
func (c *Client) end(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if errors.Is(cause, io.EOF) || errors.Is(cause, net.ErrClosed) {
			c.err = ErrClosed
		} else {
			c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
		}
	}
	for id, ch := range c.pending {
		ch <- reply{err: c.err}
		delete(c.pending, id)
	}
	c.wakeLocked()
}

// Done is closed once the connection has ended and the reader has stopped.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection and waits for the reader to stop. Pending commands
// fail with ErrClosed; queued events stay readable.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	err := c.conn.Close()
	<-c.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("qmp: close: %w", err)
	}
	return nil
}

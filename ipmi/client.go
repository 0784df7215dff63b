package ipmi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// NetFn is an IPMI network function (request codes; the response netfn is
// one higher).
type NetFn byte

// Network functions used by this package.
const (
	NetFnChassis     NetFn = 0x00
	NetFnSensorEvent NetFn = 0x04
	NetFnApp         NetFn = 0x06
	NetFnStorage     NetFn = 0x0A
	NetFnTransport   NetFn = 0x0C
)

// Defaults for Config fields left zero.
const (
	DefaultPath       = "/dev/ipmi0"
	DefaultTimeout    = 5 * time.Second
	DefaultRetries    = 3
	DefaultRetryDelay = 100 * time.Millisecond
)

// maxResponse bounds a response: IPMI_MAX_MSG_LENGTH is 272 in the kernel.
const maxResponse = 512

// pollSlice is the longest single wait on the device, so a cancelled
// context is noticed promptly.
const pollSlice = 100 * time.Millisecond

// Config says where the BMC is and how patient to be with it.
type Config struct {
	// Path of the IPMI device node; DefaultPath if empty.
	Path string
	// Timeout bounds one attempt of one command (send to response).
	Timeout time.Duration
	// Retries is how many times a command is sent again after a timeout
	// or a transient completion code (node busy 0xC0, BMC timeout 0xC3,
	// response unavailable 0xCE, BMC initializing 0xD2). Negative means
	// no retries.
	Retries int
	// RetryDelay is the pause before each retry.
	RetryDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	return c
}

// Client talks to one BMC through the Linux IPMI device interface. It is
// safe for concurrent use; commands are serialized (one in flight).
type Client struct {
	cfg Config

	mu     sync.Mutex
	dev    device
	msgid  int64
	buf    [maxResponse]byte
	closed bool
}

// Open opens the BMC device. A machine without a BMC gets an error
// matching ErrNoBMC.
func Open(cfg Config) (*Client, error) {
	return openWith(cfg, openLinux)
}

func openWith(cfg Config, open opener) (*Client, error) {
	cfg = cfg.withDefaults()
	dev, err := open(cfg.Path)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, dev: dev}, nil
}

// Close releases the device.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.dev.close()
}

// Raw sends one command and returns the response data after the
// completion code. A non-zero completion code is a *CompletionError.
// Transient failures are retried as Config says.
func (c *Client) Raw(ctx context.Context, netfn NetFn, cmd byte, data []byte) ([]byte, error) {
	var err error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if attempt > 0 {
			if werr := sleep(ctx, c.cfg.RetryDelay); werr != nil {
				return nil, fmt.Errorf("netfn %#02x cmd %#02x: %w (last: %w)", byte(netfn), cmd, werr, err)
			}
		}
		var resp []byte
		resp, err = c.once(ctx, netfn, cmd, data)
		if err == nil {
			return resp, nil
		}
		if !transient(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("after %d attempts: %w", c.cfg.Retries+1, err)
}

// transient reports whether err may go away when the command is resent.
func transient(err error) bool {
	if errors.Is(err, ErrTimeout) {
		return true
	}
	code, ok := codeOf(err)
	return ok && code.retryable()
}

// once is one attempt: send, then wait for the response with our msgid.
func (c *Client) once(ctx context.Context, netfn NetFn, cmd byte, data []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.msgid++
	id := c.msgid
	if err := c.dev.send(id, netfn, cmd, data); err != nil {
		if isNoDevice(err) {
			return nil, fmt.Errorf("send netfn %#02x cmd %#02x: %w (%w)", byte(netfn), cmd, ErrNoBMC, err)
		}
		return nil, fmt.Errorf("send netfn %#02x cmd %#02x: %w", byte(netfn), cmd, err)
	}
	deadline := time.Now().Add(c.cfg.Timeout)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("netfn %#02x cmd %#02x: %w after %v", byte(netfn), cmd, ErrTimeout, c.cfg.Timeout)
		}
		ready, err := c.dev.wait(min(left, pollSlice))
		if err != nil {
			return nil, fmt.Errorf("poll netfn %#02x cmd %#02x: %w", byte(netfn), cmd, err)
		}
		if !ready {
			continue
		}
		msg, err := c.dev.receive(c.buf[:])
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			return nil, fmt.Errorf("receive netfn %#02x cmd %#02x: %w", byte(netfn), cmd, err)
		}
		// Drop events, incoming commands and stale responses to
		// earlier attempts that timed out.
		if msg.recvType != recvTypeResponse || msg.msgid != id {
			continue
		}
		if len(msg.data) == 0 {
			return nil, fmt.Errorf("netfn %#02x cmd %#02x: %w: no completion code", byte(netfn), cmd, ErrShortResponse)
		}
		if msg.data[0] != 0 {
			return nil, &CompletionError{Code: CompletionCode(msg.data[0]), NetFn: netfn, Cmd: cmd}
		}
		out := make([]byte, len(msg.data)-1)
		copy(out, msg.data[1:])
		return out, nil
	}
}

// call is Raw plus a minimum response length. Decoders read fields by
// position and ignore bytes past what they know (ipmi_sim appends garbage
// to some responses), so only a short response is an error.
func (c *Client) call(ctx context.Context, netfn NetFn, cmd byte, data []byte, minLen int) ([]byte, error) {
	resp, err := c.Raw(ctx, netfn, cmd, data)
	if err != nil {
		return nil, err
	}
	if len(resp) < minLen {
		return nil, fmt.Errorf("netfn %#02x cmd %#02x: %w: %d bytes, want %d", byte(netfn), cmd, ErrShortResponse, len(resp), minLen)
	}
	return resp, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

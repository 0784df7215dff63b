package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/agentproto"
	"keep/engine/chunker"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/seal"
	"keep/engine/snapshot"
)

// Defaults of Options.
const (
	DefaultMaxBuffered = 8 << 20 // measured: 64 MiB was no faster than 16, and 35-45 MiB more RSS on the benchmark; 8 as fast as 16 and 7-14 MiB less RSS (4 cost time on the fs corpus)
	DefaultBatchIDs    = 256
	DefaultBatchDelay  = 2 * time.Millisecond
)

// ErrClosed: the connection to the vault is closed.
var ErrClosed = errors.New("connection to the vault is closed")

// Credentials are an enrolled agent's identity: its client certificate
// and key, and the vault CA it trusts.
type Credentials struct {
	Certificate tls.Certificate
	CA          *x509.Certificate
}

// TLSConfig is the agent's mutual TLS 1.3 configuration: the vault must
// present a certificate for enrol.ServerName issued by CA.
func (cr *Credentials) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cr.CA)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cr.Certificate},
		RootCAs:      pool,
		ServerName:   enrol.ServerName,
	}
}

// Options tune a connection.
type Options struct {
	// Agent is the agent's version string, for the vault's logs.
	Agent string
	// Client is the client name the agent expects to have (checked by
	// the vault against the certificate); empty: no claim.
	Client string
	// DialContext opens the TCP connection; nil: net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	Log         hclog.Logger
	// MaxBuffered bounds the bytes of blobs a Store holds that the vault
	// has not yet taken (queued, being asked about, being written); a
	// PutSize beyond it waits. Zero: DefaultMaxBuffered.
	MaxBuffered int
	// BatchIDs and BatchDelay: a HaveQuery goes out when BatchIDs blobs
	// are queued or BatchDelay after the first. Zero: the defaults.
	BatchIDs   int
	BatchDelay time.Duration
	// NoCompression sends blobs as plaintext instead of compressed (the
	// vault compresses them): for an agent host short of CPU and a fast
	// network, and for measurements.
	NoCompression bool
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.BatchIDs <= 0 {
		o.BatchIDs = DefaultBatchIDs
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.DialContext == nil {
		o.DialContext = (&net.Dialer{}).DialContext
	}
}

// Info is what the vault told the agent at Hello.
type Info struct {
	VaultID     string
	Client      string // the authenticated client name
	Chunker     chunker.Params
	MaxPayload  int
	MaxInFlight int
	MaxHaveIDs  int
	// Data blobs below BundleBelow go in bundles of about BundleSize
	// bytes that the agent forms (Store); zero: the vault does not bundle.
	BundleBelow, BundleSize int
}

// Client is one connection to the vault. Its methods are safe for
// concurrent use; requests from many goroutines are pipelined on the one
// stream.
type Client struct {
	opts   Options
	conn   *tls.Conn
	info   Info
	fp     *fingerprint.Hasher
	cutter *chunker.Cutter
	coder  *seal.Coder      // encodes blobs sent, decodes blobs received
	slots  chan *encodeSlot // encodings running at once (GOMAXPROCS), each with its scratch

	wmu  sync.Mutex
	wbuf []byte

	nextID  atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan result
	err     error // set once the connection failed
	done    chan struct{}

	maxPending  atomic.Int64
	recvWire    atomic.Int64     // payload bytes of the blobs received
	recvPlain   atomic.Int64     // their plaintext
	bundlesRecv atomic.Int64     // blobs taken from bundles received whole
	bundles     bundleCache      // decoded bundles received whole (bundles.go)
	frames      [64]atomic.Int64 // sent, by type
}

type result struct {
	m   agentproto.Message
	err error
}

// Dial connects to the vault at addr with mutual TLS 1.3 and says Hello.
// A vault that refuses the agent (unknown, revoked or expired
// certificate) answers with an *agentproto.Error saying why.
func Dial(ctx context.Context, addr string, creds *Credentials, opts Options) (*Client, error) {
	opts.defaults()
	raw, err := opts.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("remote: dial %s: %w", addr, err)
	}
	tc := tls.Client(raw, creds.TLSConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("remote: TLS with %s: %w (is this the vault that enrolled the agent?)", addr, err)
	}
	c := newClient(tc, opts)
	hello := &agentproto.Hello{Version: agentproto.Version, Agent: opts.Agent, Client: opts.Client}
	if !opts.NoCompression {
		hello.Flags = agentproto.HelloCompresses
	}
	r, err := c.call(ctx, hello)
	if err != nil {
		_ = c.Close()
		if errors.Is(err, ErrClosed) {
			// A vault refuses with an answer; one that hangs up without
			// one could not read this Hello (before protocol 5 a vault
			// took its flags byte for garbage).
			return nil, fmt.Errorf("remote: hello: %w (the vault hung up without an answer, as one of an older release than this agent's protocol %d does: if it is, upgrade the vault first)", err, agentproto.Version)
		}
		return nil, fmt.Errorf("remote: hello: %w", err)
	}
	h, ok := r.(*agentproto.HelloOK)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("remote: hello: unexpected %v", r.Type())
	}
	if c.fp, err = fingerprint.New(h.FingerprintKey[:]); err == nil {
		c.cutter, err = chunker.New(h.Chunker, chunker.Seed(h.GearSeed))
	}
	if err == nil {
		c.coder, err = seal.NewCoder(seal.Options{NoCompression: opts.NoCompression, Window: agentWindow})
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("remote: hello: %w", err)
	}
	c.info = Info{VaultID: h.VaultID, Client: h.Client, Chunker: h.Chunker, MaxPayload: int(h.MaxPayload),
		MaxInFlight: int(h.MaxInFlight), MaxHaveIDs: int(h.MaxHaveIDs), BundleBelow: int(h.BundleBelow), BundleSize: int(h.BundleSize)}
	return c, nil
}

func newClient(tc *tls.Conn, opts Options) *Client {
	c := &Client{opts: opts, conn: tc, pending: map[uint32]chan result{}, done: make(chan struct{}),
		slots: make(chan *encodeSlot, runtime.GOMAXPROCS(0))}
	for range cap(c.slots) {
		c.slots <- new(encodeSlot)
	}
	go c.readLoop(bufio.NewReaderSize(tc, 64<<10))
	return c
}

// agentWindow is the zstd window the agent compresses with: each of its
// GOMAXPROCS encoders keeps a history of the window, and a match further
// back than 2 MiB inside a chunk of up to 4 MiB is rare. Measured on the
// benchmark's fs corpus through the vault: the repository 570.1 MB
// against 570.5 MB with the 4 MiB default (bundle order varies by about
// that much run to run), the agent's peak RSS 92-95 MiB against 97-98.
const agentWindow = 2 << 20

// writeApart: a blob or bundle of at least this many bytes is written
// from its own buffer after its frame's head, not copied into the write
// buffer (which would grow to the largest chunk, 4 MiB, and copy every
// byte sent once more); smaller ones go in one write with their head.
const writeApart = 32 << 10

// maxKeptFrame: the write buffer is kept up to this size, so the frames of
// a backup (heads, trees, small blobs) reuse it; a larger one is dropped
// after its frame.
const maxKeptFrame = 256 << 10

// Info returns what the vault said at Hello.
func (c *Client) Info() Info { return c.info }

// Close closes the connection; calls in progress fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	err := c.conn.Close()
	<-c.done
	// The coder is left to the collector, not closed: a batch may still
	// be encoding, and it holds no goroutines (DecodeAll and EncodeAll
	// only).
	return err
}

// decode appends the plaintext of a blob of type t received encoded
// under codec to dst, bounded by the type's limit, and checks it against
// id: a damaged or forged payload is repo.ErrCorrupt, never wrong bytes.
func (c *Client) decode(dst []byte, t pack.BlobType, id fingerprint.ID, codec uint8, payload []byte) ([]byte, error) {
	limit := repo.MaxTreeSize
	if t == pack.Data {
		limit = c.info.Chunker.Max
	}
	out, err := c.coder.Decode(dst, seal.Codec(codec), payload, limit)
	if err != nil {
		return dst, fmt.Errorf("remote: get %v %s: %w: %w", t, id.Short(), repo.ErrCorrupt, err)
	}
	if c.fp.Sum(out[len(dst):]) != id {
		return dst, fmt.Errorf("remote: get %v %s: %w: received data does not match its ID", t, id.Short(), repo.ErrCorrupt)
	}
	c.recvWire.Add(int64(len(payload)))
	c.recvPlain.Add(int64(len(out) - len(dst)))
	return out, nil
}

// Received returns the bytes of the blobs this client received and
// checked: as they crossed the network (compressed) and as plaintext.
func (c *Client) Received() (wire, plain int64) { return c.recvWire.Load(), c.recvPlain.Load() }

// BundleMembersReceived returns how many blobs this client took from
// bundles the vault sent whole.
func (c *Client) BundleMembersReceived() int64 { return c.bundlesRecv.Load() }

// MaxPending returns the most requests this client had in flight at once.
func (c *Client) MaxPending() int64 { return c.maxPending.Load() }

// Sent returns how many frames of type t this client sent.
func (c *Client) Sent(t agentproto.Type) int64 { return c.frames[t&63].Load() }

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	for id, ch := range c.pending {
		if ch != nil {
			ch <- result{err: err}
		}
		delete(c.pending, id)
	}
}

func (c *Client) readLoop(br *bufio.Reader) {
	defer close(c.done)
	for {
		id, m, err := agentproto.ReadFrame(br, agentproto.MaxPayload)
		if err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
			_ = c.conn.Close()
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if !ok {
			c.fail(fmt.Errorf("%w: vault answered unknown request %d", ErrClosed, id))
			_ = c.conn.Close()
			return
		}
		var r result
		if e, isErr := m.(*agentproto.Error); isErr {
			r.err = e
		} else {
			r.m = m
		}
		if ch != nil {
			ch <- r
		} else if r.err != nil {
			c.opts.Log.Warn("vault refused a notification", "error", r.err)
		}
	}
}

// start sends m and returns the channel its reply arrives on (nil: the
// reply is dropped, errors logged).
func (c *Client) start(m agentproto.Message, wantReply bool) (chan result, error) {
	var ch chan result
	if wantReply {
		ch = make(chan result, 1)
	}
	id := c.nextID.Add(1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[id] = ch
	n := int64(len(c.pending))
	c.mu.Unlock()
	for {
		old := c.maxPending.Load()
		if n <= old || c.maxPending.CompareAndSwap(old, n) {
			break
		}
	}
	c.wmu.Lock()
	var (
		data []byte
		err  error
	)
	c.wbuf, data, err = agentproto.AppendFrameSplit(c.wbuf[:0], id, m)
	if err == nil {
		if len(data) < writeApart {
			c.wbuf, data = append(c.wbuf, data...), nil
		}
		_, err = c.conn.Write(c.wbuf)
		if err == nil && data != nil {
			_, err = c.conn.Write(data)
		}
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
	}
	if cap(c.wbuf) > maxKeptFrame {
		c.wbuf = nil
	}
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		if errors.Is(err, ErrClosed) {
			c.fail(err)
			_ = c.conn.Close()
		}
		return nil, err
	}
	c.frames[m.Type()&63].Add(1)
	return ch, nil
}

// wait waits for a reply (or ctx; the reply is then dropped).
func wait(ctx context.Context, ch chan result) (agentproto.Message, error) {
	select {
	case r := <-ch:
		return r.m, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// call sends m and waits for its reply.
func (c *Client) call(ctx context.Context, m agentproto.Message) (agentproto.Message, error) {
	ch, err := c.start(m, true)
	if err != nil {
		return nil, err
	}
	return wait(ctx, ch)
}

// reply checks a reply's type.
func reply[T agentproto.Message](m agentproto.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	r, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("vault sent %v, expected %T: protocol error", m.Type(), zero)
	}
	return r, nil
}

// ListSnapshots returns the client's snapshots, oldest first. Each is
// checked against its ID (the keyed fingerprint of its JSON).
func (c *Client) ListSnapshots(ctx context.Context) ([]*snapshot.Snapshot, error) {
	r, err := reply[*agentproto.Snapshots](c.call(ctx, &agentproto.ListSnapshots{}))
	if err != nil {
		return nil, fmt.Errorf("remote: list snapshots: %w", err)
	}
	out := make([]*snapshot.Snapshot, 0, len(r.Items))
	for _, it := range r.Items {
		s, err := c.decodeSnapshot(it.ID, it.JSON)
		if err != nil {
			return nil, fmt.Errorf("remote: list snapshots: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *Client) decodeSnapshot(id fingerprint.ID, b []byte) (*snapshot.Snapshot, error) {
	if c.fp.Sum(b) != id {
		return nil, fmt.Errorf("snapshot %s: content does not match its ID", id.Short())
	}
	s, err := snapshot.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id.Short(), err)
	}
	s.ID = id
	return s, nil
}

// openSnapshot opens one of the client's snapshots for reading.
func (c *Client) openSnapshot(ctx context.Context, id fingerprint.ID, verify bool) (*snapshot.Snapshot, bool, error) {
	r, err := reply[*agentproto.SnapshotInfo](c.call(ctx, &agentproto.OpenSnapshot{ID: id, Verify: verify}))
	if err != nil {
		return nil, false, err
	}
	s, err := c.decodeSnapshot(id, r.JSON)
	return s, r.Intact, err
}

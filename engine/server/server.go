package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/agentproto"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/repo"
)

// Defaults.
const (
	// DefaultMaxInFlight is the least a connection's budget can be: room
	// for the largest request (Serve raises a smaller MaxInFlight to it).
	// Measured: 64 MiB was no faster, and cost 40-80 MiB more RSS on the
	// fs benchmark (a LAN's bandwidth-delay product is far less).
	DefaultMaxInFlight = agentproto.MaxPayload + perRequest
	DefaultMaxHandlers = 256
	// DefaultMaxReplies: an agent restores with twice its cores' worth
	// of requests in flight (engine/restore's Workers); a vault reads
	// packs and decrypts with its own few cores, so more replies at once
	// than this buy nothing, and each may hold up to blobsReplyLimit
	// plus a blob.
	DefaultMaxReplies       = 8
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = 2 * time.Minute
	// MaxReadable bounds the blobs one session may be allowed to read
	// (see the package doc): a restore larger than this must be split
	// into subtrees or sessions.
	MaxReadable = 1 << 22
	// maxComplete bounds the cache of trees proven complete; it is
	// cleared when full.
	maxComplete = 1 << 20
	haveBatch   = 256
)

// Server is the vault side of agent connections. Set the exported fields
// and call Serve; a Server serves one listener at a time.
type Server struct {
	Repo *repo.Repo
	CA   *enrol.CA
	Jobs *jobs.Log
	Log  hclog.Logger
	// Clock is the time source (job records, certificate checks go
	// through the CA's own clock); nil: time.Now.
	Clock func() time.Time
	// FingerprintKey and GearSeed are the two subkeys agents receive
	// (keys.Subkeys.Fingerprint and .Gear of the repository's master
	// key): enough to chunk and fingerprint, nothing that opens data.
	FingerprintKey, GearSeed keys.Key
	// TLS is the server's TLS configuration; nil: CA.ServerTLSConfig
	// with Hosts.
	TLS   *tls.Config
	Hosts []string
	// Agent connections' limits; zero: the defaults.
	MaxInFlight      int // request bytes buffered per connection
	MaxHandlers      int // requests handled at once per connection
	MaxReplies       int // replies carrying stored data (GetBlob, GetBlobs, GetBundle) built or waiting to be sent at once per connection
	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	// MayRead, if set, says whether client reader may read (list, open,
	// restore) the snapshots of client owner, besides its own: an
	// operator's grant for a restore to another client. It is asked at
	// every list and open, so a grant that expires ends new reads. nil:
	// own snapshots only.
	MayRead func(reader, owner string) bool
	// SessionDone, if set, is called when a connection's session has
	// ended and its job record is final.
	SessionDone func(SessionInfo)
	// LoadChanged, if set, is called with the server's Load whenever it
	// changes: a connection opens or closes, a session begins to restore
	// (the appliance sizes its memory limit by it).
	LoadChanged func(Load)

	sessMu   sync.Mutex
	sessions map[*session]string // authenticated sessions and their clients (Disconnect)

	open    atomic.Int64 // agent connections being served
	readers atomic.Int64 // of them, sessions that began a restore or verify job
	loadMu  sync.Mutex   // serializes LoadChanged calls

	stats   stats
	startMu sync.Mutex
	started bool
	// decoders bounds the encoded blobs and bundles decoded at once, over
	// all sessions (GOMAXPROCS): decoding is CPU work, and a decoded
	// plaintext is up to 3.5 times its payload, which MaxInFlight counts.
	decoders chan struct{}

	completeMu sync.Mutex
	complete   map[fingerprint.ID]struct{} // trees whose every blob is present
}

// SessionInfo describes an ended session.
type SessionInfo struct {
	Client string // "" if it never authenticated
	JobID  string
	Err    error // why it ended (nil: the agent closed cleanly)
}

type stats struct {
	frames      [64]atomic.Int64
	maxInFlight atomic.Int64
	maxReplies  atomic.Int64 // data replies of one connection at once (MaxReplies)
}

// raise sets m to n if n is larger.
func raise(m *atomic.Int64, n int64) {
	for {
		old := m.Load()
		if n <= old || m.CompareAndSwap(old, n) {
			return
		}
	}
}

// Load is what the server is serving.
type Load struct {
	Sessions int // agent connections
	// Readers: sessions that began a restore or a verify (counted until
	// they close), which keep more in flight than a backup's: each
	// restore worker's reply of blobs read from packs.
	Readers int
}

// Load returns what the server is serving.
func (s *Server) Load() Load {
	return Load{Sessions: int(s.open.Load()), Readers: int(s.readers.Load())}
}

// Frames returns how many frames of type t the server has received.
func (s *Server) Frames(t agentproto.Type) int64 { return s.stats.frames[t&63].Load() }

// MaxInFlightSeen returns the most requests of one connection the server has
// held at once (read, not yet answered): above 1 means agents pipeline.
func (s *Server) MaxInFlightSeen() int64 { return s.stats.maxInFlight.Load() }

// MaxRepliesSeen returns the most replies carrying stored data one
// connection has had built or waiting to be sent at once (at most
// MaxReplies).
func (s *Server) MaxRepliesSeen() int64 { return s.stats.maxReplies.Load() }

func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Server) init() error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return errors.New("server: already serving")
	}
	if s.Repo == nil || s.CA == nil || s.Jobs == nil {
		return errors.New("server: Repo, CA and Jobs must be set")
	}
	if s.Log == nil {
		s.Log = hclog.NewNullLogger()
	}
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = DefaultMaxInFlight
	}
	// Room for the largest request (its cost is its length plus
	// perRequest), or a reader waiting for budget it can never have would
	// stop reading for good.
	s.MaxInFlight = max(s.MaxInFlight, agentproto.MaxPayload+perRequest)
	if s.MaxHandlers <= 0 {
		s.MaxHandlers = DefaultMaxHandlers
	}
	if s.MaxReplies <= 0 {
		s.MaxReplies = DefaultMaxReplies
	}
	s.decoders = make(chan struct{}, runtime.GOMAXPROCS(0))
	if s.HandshakeTimeout <= 0 {
		s.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = DefaultWriteTimeout
	}
	// The agent keys must be the repository's, or every blob an agent
	// sends would be refused as mismatching.
	fp, err := fingerprint.New(s.FingerprintKey.Bytes())
	if err != nil {
		return fmt.Errorf("server: fingerprint key: %w", err)
	}
	probe := []byte("keep agent key probe")
	if fp.Sum(probe) != s.Repo.Sum(probe) {
		return errors.New("server: FingerprintKey is not the repository's fingerprint key")
	}
	if s.TLS == nil {
		if s.TLS, err = s.CA.ServerTLSConfig(s.Hosts); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	if s.TLS.MinVersion < tls.VersionTLS13 {
		return errors.New("server: TLS config must require TLS 1.3")
	}
	s.complete = map[fingerprint.ID]struct{}{}
	s.started = true
	return nil
}

// Serve accepts agent connections on ln until ctx is cancelled, then
// stops gracefully: it stops accepting, lets every request already read
// finish and be answered, fails the jobs still running ("vault shutting
// down"), closes the connections and returns nil. Other errors of
// Accept are returned after the same shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.init(); err != nil {
		return err
	}
	defer func() {
		s.startMu.Lock()
		s.started = false
		s.startMu.Unlock()
	}()
	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { _ = ln.Close() })
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("server: accept: %w", aerr)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(sctx, c)
		}()
	}
	cancel() // stop the sessions, whatever ended the loop
	_ = ln.Close()
	wg.Wait()
	return err
}

// ForgetComplete empties the cache of trees proven complete. Anything
// that removes blobs (prune) must call it.
func (s *Server) ForgetComplete() {
	s.completeMu.Lock()
	s.complete = map[fingerprint.ID]struct{}{}
	s.completeMu.Unlock()
}

func (s *Server) isComplete(id fingerprint.ID) bool {
	s.completeMu.Lock()
	_, ok := s.complete[id]
	s.completeMu.Unlock()
	return ok
}

func (s *Server) setComplete(id fingerprint.ID) {
	s.completeMu.Lock()
	if len(s.complete) >= maxComplete {
		s.complete = map[fingerprint.ID]struct{}{}
	}
	s.complete[id] = struct{}{}
	s.completeMu.Unlock()
}

// mayRead: a client reads its own snapshots, and others' where MayRead
// grants it.
func (s *Server) mayRead(reader, owner string) bool {
	return reader == owner || (s.MayRead != nil && reader != "" && s.MayRead(reader, owner))
}

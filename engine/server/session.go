package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
)

// perRequest is what each request costs of the in-flight budget beyond
// its payload (a handler goroutine and its bookkeeping).
const perRequest = 512

// budget is a byte semaphore: the reader takes a request's bytes before
// allocating its payload and the handler gives them back, so a
// connection never buffers more than MaxInFlight of requests.
type budget struct {
	mu     sync.Mutex
	cond   sync.Cond
	avail  int
	closed bool
}

func newBudget(n int) *budget {
	b := &budget{avail: n}
	b.cond.L = &b.mu
	return b
}

func (b *budget) acquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.avail < n && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		return false
	}
	b.avail -= n
	return true
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.avail += n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *budget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

type blobKey struct {
	t  pack.BlobType
	id fingerprint.ID
}

// session is one agent connection.
type session struct {
	s      *Server
	conn   *tls.Conn
	br     *bufio.Reader
	log    hclog.Logger
	client string // authenticated name; "" before Hello
	// compresses: the agent said HelloCompresses at Hello.
	compresses bool

	wmu  sync.Mutex
	wbuf []byte

	raw      net.Conn    // under conn: closing it cuts the connection at once
	revoked  atomic.Bool // cut by Disconnect
	inflight atomic.Int64
	replying atomic.Int64 // data replies built or waiting to be sent

	mu        sync.Mutex
	jobID     string
	jobKind   jobs.Kind
	jobDone   bool
	committed bool
	reader    bool                 // began a restore or verify: counted in Server.readers
	readable  map[blobKey]struct{} // blobs this client may read (GetBlob)
	// wholeBundles are the bundles whose every member is readable.
	wholeBundles map[repo.BundleRef]struct{}
	c            sessionCounts
	// tally counts the exact stored bytes of the blobs this session put
	// (repo.Tally); the counts' dataStored and treeStored estimate bundled
	// chunks until their bundle is sealed. After a Flush it is exact.
	tally repo.Tally
	// stream bundles the session's small data blobs in the order they
	// came off the wire: the reader puts them itself (putInOrder).
	stream *repo.Stream
}

// sessionCounts are what this session stored, by the vault's own count.
type sessionCounts struct {
	blobsSent, bytesSent                int64
	chunksNew, dataNew, dataStored      int64
	treesNew, treeNew, treeStored       int64
	readBlobs, readBytes                int64
	unflushed                           int64 // blobs stored since the last Flush
	files, dirs, bytesSeen, bytesReadAt int64 // the agent's reports
}

func (s *Server) serveConn(ctx context.Context, raw net.Conn) {
	s.open.Add(1)
	s.loadChanged()
	defer func() {
		s.open.Add(-1)
		s.loadChanged()
	}()
	log := s.Log.With("remote", raw.RemoteAddr().String())
	tc := tls.Server(raw, s.TLS)
	hctx, cancel := context.WithTimeout(ctx, s.HandshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		log.Info("TLS handshake failed", "error", err)
		_ = tc.Close()
		s.done(SessionInfo{Err: err})
		return
	}
	ss := &session{s: s, conn: tc, raw: raw, br: bufio.NewReaderSize(tc, 64<<10), log: log, readable: map[blobKey]struct{}{}}
	err = ss.run(ctx)
	s.untrack(ss)
	_ = tc.Close()
	ss.mu.Lock()
	if ss.reader {
		s.readers.Add(-1) // reported with the connection's close
	}
	ss.mu.Unlock()
	s.done(SessionInfo{Client: ss.client, JobID: ss.jobID, Err: err})
}

// track records ss, authenticated as client, for Disconnect.
func (s *Server) track(ss *session, client string) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sessions == nil {
		s.sessions = map[*session]string{}
	}
	s.sessions[ss] = client
}

func (s *Server) untrack(ss *session) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	delete(s.sessions, ss)
}

// Disconnect cuts every connection authenticated as client and returns
// how many it cut: their running jobs fail ("client revoked"). Call it
// after revoking the client's certificates (enrol.CA.RevokeClient): a
// connection whose Hello raced with the revocation is refused by Hello's
// second look at the certificate, so none outlives the pair.
func (s *Server) Disconnect(client string) int {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	n := 0
	for ss, c := range s.sessions {
		if c == client {
			ss.revoked.Store(true)
			_ = ss.raw.Close()
			n++
		}
	}
	return n
}

// loadChanged reports the Load to LoadChanged, one call at a time, each
// reading it afresh: the last call reports the latest, whatever order
// concurrent changes come in.
func (s *Server) loadChanged() {
	if s.LoadChanged == nil {
		return
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.LoadChanged(s.Load())
}

func (s *Server) done(info SessionInfo) {
	if s.SessionDone != nil {
		s.SessionDone(info)
	}
}

// run serves the session; it returns why it ended.
func (ss *session) run(ctx context.Context) error {
	s := ss.s
	// Shutdown interrupts the reader wherever it waits: reading, or
	// waiting for budget.
	b := newBudget(s.MaxInFlight)
	stopped := atomic.Bool{}
	unwatch := context.AfterFunc(ctx, func() {
		stopped.Store(true)
		_ = ss.conn.SetReadDeadline(time.Now())
		b.close()
	})
	defer unwatch()
	// The first request must come soon and be Hello or Enrol.
	_ = ss.conn.SetReadDeadline(time.Now().Add(s.HandshakeTimeout))
	h, err := agentproto.ReadHeader(ss.br, agentproto.MaxPayload)
	if err != nil {
		return fmt.Errorf("first request: %w", err)
	}
	s.stats.frames[h.Type&63].Add(1)
	if h.Type != agentproto.TypeHello && h.Type != agentproto.TypeEnrol {
		ss.send(h.ID, errMsg(agentproto.CodeBadRequest, "say Hello (or Enrol) first"))
		return fmt.Errorf("first request is %v", h.Type)
	}
	if h.Length > 64<<10 {
		ss.send(h.ID, errMsg(agentproto.CodeTooLarge, "first request too large"))
		return errors.New("first request too large")
	}
	m, err := agentproto.ReadPayload(ss.br, h, nil)
	if err != nil {
		return fmt.Errorf("first request: %w", err)
	}
	if e, ok := m.(*agentproto.Enrol); ok {
		return ss.enrol(h.ID, e)
	}
	if err := ss.hello(h.ID, m.(*agentproto.Hello)); err != nil {
		return err
	}
	_ = ss.conn.SetReadDeadline(time.Time{})
	if stopped.Load() {
		return nil // shutdown raced with Hello
	}
	ss.log = ss.log.With("client", ss.client)
	ss.log.Debug("agent connected")

	// Requests are handled concurrently, each in its own goroutine, as
	// budget and handler slots allow; the reader stops reading (TCP
	// backpressure) while they are exhausted.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	ss.stream = s.Repo.NewStream(runtime.GOMAXPROCS(0))
	defer func() {
		if err := ss.stream.Close(); err != nil {
			ss.log.Error("cannot store the session's last bundle", "error", err)
		}
	}()
	slots := make(chan struct{}, s.MaxHandlers)
	replies := make(chan struct{}, s.MaxReplies)
	var wg sync.WaitGroup
	var rerr error
	for {
		h, err := agentproto.ReadHeader(ss.br, agentproto.MaxPayload)
		if err != nil {
			rerr = err
			break
		}
		s.stats.frames[h.Type&63].Add(1)
		cost := min(int(h.Length)+perRequest, s.MaxInFlight)
		if !b.acquire(cost) {
			rerr = errors.New("closed")
			break
		}
		slots <- struct{}{}
		m, err := agentproto.ReadPayload(ss.br, h, make([]byte, h.Length))
		if err != nil {
			<-slots
			b.release(cost)
			if errors.Is(err, agentproto.ErrFrame) {
				ss.send(h.ID, errMsg(agentproto.CodeBadRequest, err.Error()))
			}
			rerr = err
			break
		}
		raise(&s.stats.maxInFlight, ss.inflight.Add(1))
		// A small data blob is put here, in wire order, so that its
		// bundle holds what the agent sent together (a file's chunks);
		// only the reply waits for a handler.
		var reply agentproto.Message
		if pb, ok := m.(*agentproto.PutBlob); ok && ss.inOrder(pb) {
			reply = ss.put(hctx, pb)
		}
		wg.Add(1)
		go func(id uint32, m agentproto.Message) {
			defer wg.Done()
			if reply == nil {
				if readsData(m) {
					// Its reply is not in the request budget: bound
					// how many are built or wait for the writer.
					replies <- struct{}{}
					raise(&s.stats.maxReplies, ss.replying.Add(1))
					defer func() {
						ss.replying.Add(-1)
						<-replies
					}()
				}
				reply = ss.handle(hctx, m)
			}
			ss.send(id, reply)
			ss.inflight.Add(-1)
			<-slots
			b.release(cost)
		}(h.ID, m)
	}
	shutdown := stopped.Load()
	if !shutdown {
		cancel() // the agent is gone: abandon its requests
	}
	wg.Wait()
	b.close()
	reason := "connection lost: " + rerr.Error()
	if errors.Is(rerr, io.EOF) {
		reason = "agent disconnected before the job ended"
	}
	if shutdown {
		reason = "vault shutting down; run the job again"
	}
	revoked := ss.revoked.Load()
	if revoked {
		reason = "client revoked by the operator: its connection was cut"
	}
	ss.failJob(reason)
	if revoked {
		return errors.New(reason)
	}
	if errors.Is(rerr, io.EOF) || shutdown {
		return nil
	}
	return rerr
}

// readsData reports whether m asks for stored data: a reply that may be
// megabytes for a request of a few bytes.
func readsData(m agentproto.Message) bool {
	switch m.(type) {
	case *agentproto.GetBlob, *agentproto.GetBlobs, *agentproto.GetBundle:
		return true
	}
	return false
}

// send writes one reply; a write error closes the connection, which ends
// the reader.
func (ss *session) send(id uint32, m agentproto.Message) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	var err error
	ss.wbuf, err = agentproto.AppendFrame(ss.wbuf[:0], id, m)
	if err != nil {
		ss.wbuf, _ = agentproto.AppendFrame(ss.wbuf[:0], id, errMsg(agentproto.CodeTooLarge, err.Error()))
	}
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.s.WriteTimeout))
	if _, err := ss.conn.Write(ss.wbuf); err != nil {
		ss.log.Debug("write failed", "error", err)
		_ = ss.conn.Close()
	}
	if cap(ss.wbuf) > 4<<20 { // a Blobs reply of a restore's run is kept
		ss.wbuf = nil
	}
}

func errMsg(c agentproto.Code, msg string) *agentproto.Error {
	return &agentproto.Error{Code: c, Message: agentproto.Truncate(msg)}
}

// failJob finalises a job still running when the session ends.
func (ss *session) failJob(reason string) {
	ss.mu.Lock()
	id, done := ss.jobID, ss.jobDone
	ss.jobDone = true
	ss.mu.Unlock()
	if id == "" || done {
		return
	}
	if err := ss.s.Jobs.Finish(id, jobs.Failed, reason, ss.applyCounts); err != nil {
		ss.log.Error("cannot finalise job", "job", id, "error", err)
	}
}

package server

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"keep/engine/agentproto"
	"keep/engine/enrol"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/seal"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// enrol answers the one Enrol request of an enrolling agent.
func (ss *session) enrol(id uint32, e *agentproto.Enrol) error {
	der, client, err := ss.s.CA.Enrol(e.Secret, e.PublicKey)
	if err != nil {
		ss.log.Info("enrolment refused", "error", err)
		ss.send(id, errMsg(codeOf(err), err.Error()))
		return err
	}
	ss.client = client
	ss.log.Info("agent enrolled", "client", client)
	ss.send(id, &agentproto.Enrolled{Certificate: der, CA: ss.s.CA.Certificate().Raw})
	return nil
}

// hello authenticates the agent by its certificate (never by the name it
// claims) and answers with the session parameters.
func (ss *session) hello(id uint32, h *agentproto.Hello) error {
	s := ss.s
	if h.Version != agentproto.Version {
		err := fmt.Errorf("agent speaks protocol version %d, this vault %d: run an agent of the vault's release", h.Version, agentproto.Version)
		ss.send(id, errMsg(agentproto.CodeVersion, err.Error()))
		return err
	}
	var chain []*x509.Certificate
	if cs := ss.conn.ConnectionState(); len(cs.PeerCertificates) > 0 {
		chain = cs.PeerCertificates
	}
	client, err := s.CA.VerifyClient(chain)
	if err != nil {
		ss.log.Info("agent refused", "error", err)
		ss.send(id, errMsg(codeOf(err), err.Error()))
		return err
	}
	if h.Client != "" && h.Client != client {
		err := fmt.Errorf("agent claims to be %q but its certificate is for %q: fix the agent's configuration", h.Client, client)
		ss.send(id, errMsg(agentproto.CodeClientMismatch, err.Error()))
		return err
	}
	// Tracked for Disconnect, then the certificate looked at again: a
	// revocation between the two looks is followed by a Disconnect that
	// finds this session, one before the second look is seen by it.
	s.track(ss, client)
	if _, err := s.CA.VerifyClient(chain); err != nil {
		ss.log.Info("agent refused", "error", err)
		ss.send(id, errMsg(codeOf(err), err.Error()))
		return err
	}
	ss.client = client
	ss.compresses = h.Flags&agentproto.HelloCompresses != 0
	cfg := s.Repo.Config()
	ss.send(id, &agentproto.HelloOK{
		Version: agentproto.Version, VaultID: cfg.ID, Client: client, Chunker: cfg.Chunker.Params(),
		GearSeed: s.GearSeed.Array(), FingerprintKey: s.FingerprintKey.Array(),
		MaxPayload: agentproto.MaxPayload, MaxInFlight: uint32(s.MaxInFlight), MaxHaveIDs: agentproto.MaxHaveIDs,
		BundleBelow: uint32(s.Repo.BundleBelow()), BundleSize: uint32(s.Repo.BundleSize()),
	})
	return nil
}

// codeOf maps an error to its protocol code.
func codeOf(err error) agentproto.Code {
	var pe *agentproto.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, repo.ErrIDMismatch):
		return agentproto.CodeIDMismatch
	case errors.Is(err, repo.ErrNotFound):
		return agentproto.CodeNotFound
	case errors.Is(err, repo.ErrTooLarge):
		return agentproto.CodeTooLarge
	case errors.Is(err, repo.ErrType), errors.Is(err, snapshot.ErrFormat), errors.Is(err, tree.ErrFormat),
		errors.Is(err, agentproto.ErrFrame):
		return agentproto.CodeBadRequest
	case errors.Is(err, enrol.ErrTokenInvalid), errors.Is(err, enrol.ErrPublicKey):
		return agentproto.CodeTokenInvalid
	case errors.Is(err, enrol.ErrTokenUsed):
		return agentproto.CodeTokenUsed
	case errors.Is(err, enrol.ErrTokenExpired):
		return agentproto.CodeTokenExpired
	case errors.Is(err, enrol.ErrRevoked):
		return agentproto.CodeRevoked
	case errors.Is(err, enrol.ErrUnknownCA), errors.Is(err, enrol.ErrExpired), errors.Is(err, enrol.ErrNoClient),
		errors.Is(err, enrol.ErrNoCert):
		return agentproto.CodeUnauthenticated
	case errors.Is(err, context.Canceled):
		return agentproto.CodeUnavailable
	}
	return agentproto.CodeInternal
}

func fail(err error) *agentproto.Error { return errMsg(codeOf(err), err.Error()) }

func blobType(t uint8) (pack.BlobType, error) {
	bt := pack.BlobType(t)
	if bt != pack.Data && bt != pack.Tree {
		return 0, &agentproto.Error{Code: agentproto.CodeBadRequest, Message: fmt.Sprintf("blob type %d: use 1 (data) or 2 (tree)", t)}
	}
	return bt, nil
}

// handle answers one request after Hello.
func (ss *session) handle(ctx context.Context, m agentproto.Message) agentproto.Message {
	s := ss.s
	switch m := m.(type) {
	case *agentproto.HaveQuery:
		t, err := blobType(m.BlobType)
		if err != nil {
			return fail(err)
		}
		r := &agentproto.HaveReply{Present: make([]bool, len(m.IDs))}
		for i, id := range m.IDs {
			r.Present[i] = s.Repo.Has(t, id)
		}
		return r
	case *agentproto.PutBlob:
		return ss.put(ctx, m)
	case *agentproto.PutBundle:
		return ss.putBundle(ctx, m)
	case *agentproto.GetBlob:
		return ss.get(ctx, m)
	case *agentproto.GetBlobs:
		return ss.getMany(ctx, m)
	case *agentproto.GetBundle:
		return ss.getBundle(ctx, m)
	case *agentproto.Flush:
		before := ss.unflushed()
		if err := s.Repo.Flush(ctx); err != nil {
			return fail(fmt.Errorf("flush: %w", err))
		}
		ss.flushed(before)
		return &agentproto.FlushOK{}
	case *agentproto.Commit:
		return ss.commit(ctx, m)
	case *agentproto.ListSnapshots:
		return ss.list(ctx)
	case *agentproto.OpenSnapshot:
		return ss.open(ctx, m)
	case *agentproto.BeginJob:
		return ss.beginJob(m)
	case *agentproto.Progress:
		ss.mu.Lock()
		ss.c.files, ss.c.dirs, ss.c.bytesSeen, ss.c.bytesReadAt = int64(m.Files), int64(m.Dirs), int64(m.BytesSeen), int64(m.BytesRead)
		id, done := ss.jobID, ss.jobDone
		ss.mu.Unlock()
		if id == "" || done {
			return &agentproto.Ack{}
		}
		if err := s.Jobs.Update(id, ss.applyCounts); err != nil {
			return fail(err)
		}
		return &agentproto.Ack{}
	case *agentproto.Skipped:
		return ss.skipped(m)
	case *agentproto.EndJob:
		return ss.endJob(m)
	case *agentproto.Hello, *agentproto.Enrol:
		return errMsg(agentproto.CodeBadRequest, fmt.Sprintf("%v is only valid as the first request", m.Type()))
	default:
		return errMsg(agentproto.CodeBadRequest, fmt.Sprintf("%v is not a request", m.Type()))
	}
}

// put decodes a blob, verifies it against its ID (always: the
// repository skips the check for blobs it has) and stores it, an encoded
// one as it came, and an unencoded one too when the agent compresses
// (Hello's HelloCompresses: it tried).
func (ss *session) put(ctx context.Context, m *agentproto.PutBlob) agentproto.Message {
	t, err := blobType(m.BlobType)
	if err != nil {
		return fail(err)
	}
	data := m.Data
	if m.Codec != 0 {
		if !ss.decodeSlot(ctx) {
			return errMsg(agentproto.CodeUnavailable, "session ending")
		}
		defer func() { <-ss.s.decoders }()
		bp := plainBufs.Get().(*[]byte)
		defer plainBufs.Put(bp)
		if data, err = ss.s.Repo.Decode((*bp)[:0], t, seal.Codec(m.Codec), m.Data, int(m.Size)); err != nil {
			ss.log.Warn("blob refused: its payload does not decode", "id", m.ID.Short(), "error", err)
			code := agentproto.CodeBadRequest
			if errors.Is(err, repo.ErrTooLarge) {
				code = agentproto.CodeTooLarge
			}
			return errMsg(code, fmt.Sprintf("blob %s: %v; nothing stored (agent bug or corruption in transit)", m.ID.Short(), err))
		}
		*bp = data[:0]
	}
	if ss.s.Repo.Sum(data) != m.ID {
		ss.log.Warn("blob refused: content does not match its ID", "id", m.ID.Short())
		return errMsg(agentproto.CodeIDMismatch, fmt.Sprintf("blob %s: content does not hash to its ID; nothing stored (agent bug or corruption in transit)", m.ID.Short()))
	}
	pctx := repo.WithStream(repo.WithTally(ctx, &ss.tally), ss.stream)
	var n int
	if m.Codec != 0 || ss.compresses {
		// As it came: an agent that compresses sent this blob
		// uncompressed because it did not compress.
		n, err = ss.s.Repo.PutEncodedSize(pctx, t, m.ID, data, seal.Codec(m.Codec), m.Data)
	} else {
		n, err = ss.s.Repo.PutVerifiedSize(pctx, t, m.ID, data)
	}
	if err != nil {
		return fail(fmt.Errorf("store blob %s: %w", m.ID.Short(), err))
	}
	ss.mu.Lock()
	c := &ss.c
	c.blobsSent++
	c.bytesSent += int64(len(m.Data))
	if n > 0 {
		c.unflushed++
		if t == pack.Data {
			c.chunksNew++
			c.dataNew += int64(len(data))
			c.dataStored += int64(n)
		} else {
			c.treesNew++
			c.treeNew += int64(len(data))
			c.treeStored += int64(n)
		}
	}
	ss.mu.Unlock()
	return &agentproto.PutOK{Stored: uint32(n)}
}

// putBundle decodes a bundle an agent formed, verifies every member
// against its ID, and stores it as it came (Repo.PutEncodedBundle).
func (ss *session) putBundle(ctx context.Context, m *agentproto.PutBundle) agentproto.Message {
	if !ss.decodeSlot(ctx) {
		return errMsg(agentproto.CodeUnavailable, "session ending")
	}
	defer func() { <-ss.s.decoders }()
	bp := plainBufs.Get().(*[]byte)
	defer plainBufs.Put(bp)
	plain, members, err := ss.s.Repo.DecodeBundle((*bp)[:0], seal.Codec(m.Codec), m.Data, int(m.Size))
	if err != nil {
		ss.log.Warn("bundle refused", "error", err)
		code := agentproto.CodeBadRequest
		if errors.Is(err, repo.ErrTooLarge) {
			code = agentproto.CodeTooLarge
		}
		return errMsg(code, fmt.Sprintf("bundle: %v; nothing stored (agent bug or corruption in transit)", err))
	}
	*bp = plain[:0]
	for _, mb := range members {
		if ss.s.Repo.Sum(plain[mb.Offset:mb.Offset+mb.Len]) != mb.ID {
			ss.log.Warn("bundle refused: a member does not match its ID", "id", mb.ID.Short())
			return errMsg(agentproto.CodeIDMismatch, fmt.Sprintf("bundle member %s: content does not hash to its ID; nothing stored (agent bug or corruption in transit)", mb.ID.Short()))
		}
	}
	n, fresh, freshBytes, err := ss.s.Repo.PutEncodedBundle(repo.WithStream(repo.WithTally(ctx, &ss.tally), ss.stream), plain, members, seal.Codec(m.Codec), m.Data)
	if err != nil {
		return fail(fmt.Errorf("store bundle: %w", err))
	}
	ss.mu.Lock()
	c := &ss.c
	c.blobsSent += int64(len(members))
	c.bytesSent += int64(len(m.Data))
	if fresh > 0 {
		c.unflushed += int64(fresh)
		c.chunksNew += int64(fresh)
		c.dataNew += freshBytes
		c.dataStored += int64(n)
	}
	ss.mu.Unlock()
	return &agentproto.PutOK{Stored: uint32(n)}
}

// decodeSlot waits for one of the server's decoders (false: ctx ended);
// the caller gives it back.
func (ss *session) decodeSlot(ctx context.Context) bool {
	select {
	case ss.s.decoders <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// plainBufs hold the plaintext of encoded blobs while they are checked
// and stored (a bundled one is copied into its bundle; a sealed one is
// stored as its payload).
var plainBufs = sync.Pool{New: func() any { return new([]byte) }}

// inOrder reports whether the reader puts m itself (session.run): a data
// blob the repository bundles. Its cost there is the fingerprint check
// and a copy into the bundle; sealing full bundles runs elsewhere.
func (ss *session) inOrder(m *agentproto.PutBlob) bool {
	t, err := blobType(m.BlobType)
	size := len(m.Data)
	if m.Codec != 0 {
		size = int(m.Size)
	}
	return err == nil && ss.s.Repo.Bundles(t, size)
}

// applyCounts copies the session's counts into its job record; callers
// hold no lock of the session... it takes ss.mu itself.
func (ss *session) applyCounts(j *jobs.Job) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	c := &ss.c
	j.Counts.Files, j.Counts.Dirs, j.Counts.BytesSeen, j.Counts.BytesRead = c.files, c.dirs, c.bytesSeen, c.bytesReadAt
	j.Counts.BlobsSent = c.blobsSent + c.readBlobs
	j.Counts.BytesSent = c.bytesSent + c.readBytes
	j.Counts.BlobsNew = c.chunksNew + c.treesNew
	j.Counts.BytesNew = c.dataNew + c.treeNew
	j.Counts.BytesStored = ss.storedLocked()
}

// storedLocked is the bytes this session stored: the exact tally when no
// blob was stored since the last Flush, else the sum of PutSize's figures
// (bundled chunks estimated). ss.mu held.
func (ss *session) storedLocked() int64 {
	if ss.c.unflushed == 0 && ss.tally.Bytes() > 0 {
		return ss.tally.Bytes()
	}
	return ss.c.dataStored + ss.c.treeStored
}

// unflushed returns how many blobs were stored since the last Flush.
func (ss *session) unflushed() int64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.c.unflushed
}

// flushed notes a successful Flush of the repository: everything this
// session stored before it is in the tally.
func (ss *session) flushed(before int64) {
	ss.mu.Lock()
	ss.c.unflushed -= before
	ss.mu.Unlock()
}

// get serves a blob this client may read (see the package doc).
func (ss *session) get(ctx context.Context, m *agentproto.GetBlob) agentproto.Message {
	t, err := blobType(m.BlobType)
	if err != nil {
		return fail(err)
	}
	k := blobKey{t, m.ID}
	ss.mu.Lock()
	_, ok := ss.readable[k]
	ss.mu.Unlock()
	if !ok {
		return errMsg(agentproto.CodeForbidden, fmt.Sprintf("blob %s is not part of a snapshot this client opened: open the snapshot first", m.ID.Short()))
	}
	// The agent checks each chunk against its ID (it has the fingerprint
	// key), so the vault does not hash it again; trees it decodes itself
	// (their children become readable), so those it checks.
	// Data goes as stored, compressed: the agent decodes it.
	var codec seal.Codec
	var b []byte
	if t == pack.Data {
		codec, b, err = ss.s.Repo.GetEncoded(ctx, t, m.ID, nil)
	} else {
		b, err = ss.s.Repo.Get(ctx, t, m.ID, nil)
	}
	if err != nil {
		return fail(fmt.Errorf("read blob: %w", err))
	}
	if t == pack.Tree {
		blob, err := tree.Decode(b)
		if err != nil {
			return fail(fmt.Errorf("tree %s: %w", m.ID.Short(), err))
		}
		if err := ss.allow(children(blob)...); err != nil {
			return fail(err)
		}
	}
	ss.mu.Lock()
	ss.c.readBlobs++
	ss.c.readBytes += int64(len(b))
	ss.mu.Unlock()
	return &agentproto.Blob{Codec: uint8(codec), Data: b}
}

// blobsReplyLimit is how many payload bytes one Blobs reply carries; the
// items past it are answered CodeTooLarge (ask again).
const blobsReplyLimit = 8 << 20

// getMany answers GetBlobs: each blob as GetBlob would, one after
// another (so the members of one bundle come from the bundle cache), or,
// for a member of a stored bundle whose every member this client may
// read, by naming the bundle, which the agent gets whole (GetBundle) and
// decodes itself (see the package doc).
func (ss *session) getMany(ctx context.Context, m *agentproto.GetBlobs) agentproto.Message {
	r := &agentproto.Blobs{Items: make([]agentproto.BlobItem, len(m.IDs))}
	size := 0
	var inReply map[repo.BundleRef]uint16 // bundles of this reply, by 1-based index
	for i, id := range m.IDs {
		it := &r.Items[i]
		if size >= blobsReplyLimit {
			it.Code, it.Message = agentproto.CodeTooLarge, "reply full: ask again"
			continue
		}
		if m.BlobType == uint8(pack.Data) {
			if ref, ok := ss.s.Repo.BundleOf(pack.Data, id); ok && ss.mayRead(pack.Data, id) {
				if k, ok := inReply[ref]; ok {
					it.Bundle = k
					continue
				}
				if len(r.Bundles) < agentproto.MaxGetIDs && ss.mayReadBundle(ref) {
					r.Bundles = append(r.Bundles, bundleRef(ref))
					if inReply == nil {
						inReply = map[repo.BundleRef]uint16{}
					}
					inReply[ref] = uint16(len(r.Bundles))
					it.Bundle = uint16(len(r.Bundles))
					continue
				}
			}
		}
		switch a := ss.get(ctx, &agentproto.GetBlob{BlobType: m.BlobType, ID: id}).(type) {
		case *agentproto.Blob:
			it.Codec, it.Data = a.Codec, a.Data
			size += len(a.Data)
		case *agentproto.Error:
			it.Code, it.Message = a.Code, a.Message
		}
	}
	return r
}

// getBundle serves a stored bundle a Blobs reply named, as stored: only
// one whose every member this client may read.
func (ss *session) getBundle(ctx context.Context, m *agentproto.GetBundle) agentproto.Message {
	ref := repoBundleRef(m.Ref)
	if !ss.mayReadBundle(ref) {
		return errMsg(agentproto.CodeForbidden, fmt.Sprintf("bundle %x: not a bundle whose every member is part of a snapshot this client opened: ask for its blobs one by one", m.Ref[:8]))
	}
	codec, b, err := ss.s.Repo.GetEncodedBundle(ctx, ref, nil)
	if err != nil {
		return fail(fmt.Errorf("read bundle: %w", err))
	}
	ss.mu.Lock()
	ss.c.readBlobs++
	ss.c.readBytes += int64(len(b))
	ss.mu.Unlock()
	return &agentproto.Blob{Codec: uint8(codec), Data: b}
}

// bundleRef and repoBundleRef convert between the repository's and the
// wire's names of a bundle.
func bundleRef(r repo.BundleRef) agentproto.BundleRef {
	var w agentproto.BundleRef
	copy(w[:32], r.Pack[:])
	binary.BigEndian.PutUint32(w[32:], r.Offset)
	binary.BigEndian.PutUint32(w[36:], r.Length)
	return w
}

func repoBundleRef(w agentproto.BundleRef) repo.BundleRef {
	var r repo.BundleRef
	copy(r.Pack[:], w[:32])
	r.Offset = binary.BigEndian.Uint32(w[32:])
	r.Length = binary.BigEndian.Uint32(w[36:])
	return r
}

// mayRead reports whether this client may read the blob.
func (ss *session) mayRead(t pack.BlobType, id fingerprint.ID) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.readable[blobKey{t, id}]
	return ok
}

// mayReadBundle reports whether this client may read every member of
// bundle ref, so the bundle may be sent whole: it may hold blobs of other
// snapshots, another client's when the vault formed it. A yes is kept for
// the session (what a client may read only grows); a no is asked again.
func (ss *session) mayReadBundle(ref repo.BundleRef) bool {
	ss.mu.Lock()
	_, ok := ss.wholeBundles[ref]
	ss.mu.Unlock()
	if ok {
		return true
	}
	ids, err := ss.s.Repo.BundleMembers(ref)
	if err != nil {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, id := range ids {
		if _, ok := ss.readable[blobKey{pack.Data, id}]; !ok {
			return false
		}
	}
	if ss.wholeBundles == nil {
		ss.wholeBundles = map[repo.BundleRef]struct{}{}
	}
	ss.wholeBundles[ref] = struct{}{}
	return true
}

// children lists the blobs a tree blob refers to.
func children(b *tree.Blob) []blobKey {
	var ks []blobKey
	addExtents := func(es []tree.Extent) {
		for _, e := range es {
			if !e.Hole {
				ks = append(ks, blobKey{pack.Data, e.ID})
			}
		}
	}
	switch b.Kind {
	case tree.KindNodes:
		for i := range b.Nodes {
			n := &b.Nodes[i]
			if !n.Subtree.IsZero() {
				ks = append(ks, blobKey{pack.Tree, n.Subtree})
			}
			for _, id := range n.ContentBlobs {
				ks = append(ks, blobKey{pack.Tree, id})
			}
			addExtents(n.Content)
		}
	case tree.KindParts:
		for _, id := range b.Parts {
			ks = append(ks, blobKey{pack.Tree, id})
		}
	case tree.KindExtents:
		addExtents(b.Extents)
	}
	return ks
}

func (ss *session) allow(ks ...blobKey) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.readable)+len(ks) > MaxReadable {
		return &agentproto.Error{Code: agentproto.CodeTooLarge, Message: fmt.Sprintf("this session may read at most %d blobs: restore a subtree, or reconnect", MaxReadable)}
	}
	for _, k := range ks {
		ss.readable[k] = struct{}{}
	}
	return nil
}

// loadOwn loads a snapshot of this client (or of a client whose snapshots
// an operator let it read: Server.MayRead); another client's snapshot is
// reported as not found, so IDs of other clients' snapshots leak nothing.
func (ss *session) loadOwn(ctx context.Context, id fingerprint.ID) (*snapshot.Snapshot, error) {
	snap, err := snapshot.Load(ctx, ss.s.Repo, id)
	if err == nil && !ss.s.mayRead(ss.client, snap.Client) {
		err = fmt.Errorf("snapshot %s: %w", id.Short(), repo.ErrNotFound)
	}
	if err != nil {
		if errors.Is(err, repo.ErrNotFound) {
			return nil, &agentproto.Error{Code: agentproto.CodeNotFound, Message: fmt.Sprintf("snapshot %s not found among client %s's snapshots: list them to pick one", id.Short(), ss.client)}
		}
		return nil, err
	}
	return snap, nil
}

func (ss *session) open(ctx context.Context, m *agentproto.OpenSnapshot) agentproto.Message {
	snap, err := ss.loadOwn(ctx, m.ID)
	if err != nil {
		return fail(err)
	}
	intact := false
	if m.Verify {
		err := ss.s.checkComplete(ctx, snap.Tree)
		if err != nil && !errors.Is(err, errIncomplete) {
			return fail(fmt.Errorf("verify snapshot %s: %w", m.ID.Short(), err))
		}
		intact = err == nil
	}
	if err := ss.allow(blobKey{pack.Tree, snap.Tree}); err != nil {
		return fail(err)
	}
	b, err := snapshot.Encode(snap)
	if err != nil {
		return fail(err)
	}
	return &agentproto.SnapshotInfo{Intact: intact, JSON: b}
}

func (ss *session) list(ctx context.Context) agentproto.Message {
	snaps, damaged, err := snapshot.List(ctx, ss.s.Repo)
	if err != nil {
		return fail(err)
	}
	for _, d := range damaged {
		ss.log.Warn("damaged snapshot file", "id", d.ID.Short(), "error", d.Err)
	}
	r := &agentproto.Snapshots{Items: []agentproto.SnapshotItem{}}
	size := 4
	for _, sn := range snaps {
		if !ss.s.mayRead(ss.client, sn.Client) {
			continue
		}
		b, err := snapshot.Encode(sn)
		if err != nil {
			return fail(err)
		}
		size += fingerprint.Size + 4 + len(b)
		if len(r.Items) == agentproto.MaxSnapshots || size > agentproto.MaxPayload {
			return errMsg(agentproto.CodeTooLarge, "too many snapshots to list in one reply; prune old ones")
		}
		r.Items = append(r.Items, agentproto.SnapshotItem{ID: sn.ID, JSON: b})
	}
	return r
}

func (ss *session) beginJob(m *agentproto.BeginJob) agentproto.Message {
	kind := jobs.Kind(m.Kind)
	if !kind.Valid() {
		return errMsg(agentproto.CodeBadRequest, fmt.Sprintf("job kind %q: use full, incremental, synthetic-full, restore or verify", m.Kind))
	}
	ss.mu.Lock()
	if ss.jobID != "" && !ss.jobDone {
		ss.mu.Unlock()
		return errMsg(agentproto.CodeBadRequest, "this session's job is still running: end it (commit or EndJob) before the next")
	}
	// A new job: its own counts, its own commit.
	ss.jobID, ss.jobDone, ss.committed, ss.c = "-", false, false, sessionCounts{}
	ss.mu.Unlock()
	j := jobs.Job{Client: ss.client, Hostname: m.Hostname, Kind: kind, Paths: m.Paths}
	if !m.Parent.IsZero() {
		if kind == jobs.Restore || kind == jobs.Verify {
			j.Snapshot = m.Parent.String() // the snapshot read
		} else {
			j.Parent = m.Parent.String()
		}
	}
	id, err := ss.s.Jobs.Start(j)
	ss.mu.Lock()
	newReader := false
	if err != nil {
		ss.jobID = ""
	} else {
		ss.jobID, ss.jobKind = id, kind
		if (kind == jobs.Restore || kind == jobs.Verify) && !ss.reader {
			ss.reader, newReader = true, true
		}
	}
	ss.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	if newReader {
		ss.s.readers.Add(1)
		ss.s.loadChanged()
	}
	ss.log.Info("job started", "job", id, "kind", kind)
	return &agentproto.JobStarted{JobID: id}
}

func (ss *session) skipped(m *agentproto.Skipped) agentproto.Message {
	items := make([]jobs.Item, len(m.Items))
	for i, it := range m.Items {
		items[i] = jobs.Item{Path: it.Path, Reason: it.Reason}
	}
	ss.mu.Lock()
	id, done := ss.jobID, ss.jobDone
	ss.mu.Unlock()
	var err error
	switch {
	case id == "" || id == "-":
		return errMsg(agentproto.CodeNoJob, "no job: send BeginJob first")
	case done:
		// The commit already counted them (the snapshot summary's
		// Skipped): only the items are added to the record.
		err = ss.s.Jobs.Amend(id, func(j *jobs.Job) {
			n := j.Skipped
			j.AddItems(items...)
			j.Skipped = n
		})
	default:
		err = ss.s.Jobs.Update(id, func(j *jobs.Job) { j.AddItems(items...) })
	}
	if err != nil {
		return fail(err)
	}
	return &agentproto.Ack{}
}

func (ss *session) endJob(m *agentproto.EndJob) agentproto.Message {
	ss.mu.Lock()
	id, done, committing := ss.jobID, ss.jobDone, ss.committed && !ss.jobDone
	if id != "" && id != "-" && !committing {
		ss.jobDone = true
	}
	ss.mu.Unlock()
	if id == "" || id == "-" {
		return errMsg(agentproto.CodeNoJob, "no job: send BeginJob first")
	}
	if committing {
		// The commit ends the job; ending it here would let a BeginJob
		// start another that the commit then marks done.
		return errMsg(agentproto.CodeBadRequest, "this job's commit is in progress: wait for its answer (and end the job only if it failed)")
	}
	if done {
		return &agentproto.Ack{} // committed already, or ended
	}
	state, reason := jobs.Succeeded, ""
	if m.Failed {
		state, reason = jobs.Failed, m.Reason
	}
	if err := ss.s.Jobs.Finish(id, state, reason, ss.applyCounts); err != nil {
		return fail(err)
	}
	return &agentproto.Ack{}
}

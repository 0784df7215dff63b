package server

import (
	"bufio"
	crand "crypto/rand"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// TestLargestRequestDoesNotWedge: a request of MaxPayload bytes fits the
// in-flight budget (its cost is its length plus perRequest): a reader
// waiting for budget it could never have stopped reading for good, so an
// agent gone mid-request left its session, its job and Serve hanging.
func TestLargestRequestDoesNotWedge(t *testing.T) {
	v := newTestVault(t)
	c, br := v.conn(t, "web1")
	roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version})
	js := roundTrip(t, c, br, 2, &agentproto.BeginJob{Kind: "full", Hostname: "h"}).(*agentproto.JobStarted)
	_, err := c.Write(agentproto.AppendHeader(nil, agentproto.Header{Type: agentproto.TypePutBlob, ID: 3, Length: agentproto.MaxPayload}))
	must(t, err)
	_, err = c.Write(make([]byte, 1000)) // some of the payload, then the agent goes
	must(t, err)
	must(t, c.Close())
	select {
	case i := <-v.ended:
		if i.JobID != js.JobID {
			t.Fatalf("session ended %+v, want job %s", i, js.JobID)
		}
	case <-time.After(time.Minute):
		t.Fatal("the session did not end after its agent disconnected mid-request")
	}
	if j, err := v.srv.Jobs.Get(js.JobID); err != nil || j.State != jobs.Failed {
		t.Fatalf("job %+v %v, want failed", j, err)
	}
	// The same request from an agent that stays: shutdown ends it.
	c, br = v.conn(t, "web1")
	roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version})
	_, err = c.Write(agentproto.AppendHeader(nil, agentproto.Header{Type: agentproto.TypePutBlob, ID: 3, Length: agentproto.MaxPayload}))
	must(t, err)
	if err := v.stop(time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestEndJobDuringCommit: EndJob while the job's commit runs is refused
// and leaves the job to the commit; else a BeginJob behind it started a
// job the commit then marked done, which could be neither committed nor
// ended and stayed "running" after the session.
func TestEndJobDuringCommit(t *testing.T) {
	ss := &session{s: &Server{}, jobID: "job-1", committed: true}
	wantCode(t, ss.endJob(&agentproto.EndJob{}), agentproto.CodeBadRequest)
	if ss.jobDone {
		t.Fatal("EndJob during a commit ended the job")
	}
	wantCode(t, ss.beginJob(&agentproto.BeginJob{Kind: "full"}), agentproto.CodeBadRequest)
	if ss.jobID != "job-1" {
		t.Fatalf("BeginJob during a commit replaced the job: %q", ss.jobID)
	}
}

// TestDataRepliesBounded: an agent that pipelines many small GetBlob
// requests for a large blob and reads no answer makes the vault hold at
// most MaxReplies replies (the requests' budget does not count them),
// and every answer is right once it reads.
func TestDataRepliesBounded(t *testing.T) {
	v := newTestVault(t, func(s *Server) { s.MaxReplies = 4 })
	fp, err := fingerprint.New(v.srv.FingerprintKey.Bytes())
	must(t, err)
	c, br := v.conn(t, "web1")
	roundTrip(t, c, br, 1, &agentproto.Hello{Version: agentproto.Version})
	roundTrip(t, c, br, 2, &agentproto.BeginJob{Kind: "full", Hostname: "h"})
	// An incompressible tree of about 1 MiB.
	var nodes []tree.Node
	for i := range 16 {
		b := make([]byte, 32<<10)
		_, _ = crand.Read(b)
		nodes = append(nodes, tree.Node{Name: fmt.Sprintf("l%02d", i), Type: tree.Symlink, LinkTarget: fmt.Sprintf("%x", b)})
	}
	root := putTree(t, c, br, fp, 3, nodes)
	sb, err := snapshot.Encode(&snapshot.Snapshot{Version: snapshot.Version, Time: time.Now(), Hostname: "h", Tree: root, Job: snapshot.Full})
	must(t, err)
	cm, ok := roundTrip(t, c, br, 4, &agentproto.Commit{Snapshot: sb}).(*agentproto.Committed)
	if !ok {
		t.Fatal("commit refused")
	}
	if _, ok := roundTrip(t, c, br, 5, &agentproto.OpenSnapshot{ID: cm.ID}).(*agentproto.SnapshotInfo); !ok {
		t.Fatal("open refused")
	}
	const n = 64
	var frames []byte
	for i := range n {
		frames, err = agentproto.AppendFrame(frames, uint32(100+i), &agentproto.GetBlob{BlobType: uint8(pack.Tree), ID: root})
		must(t, err)
	}
	_, err = c.Write(frames)
	must(t, err)
	// Reading only now: the writer was stuck with full socket buffers.
	for range n {
		_, m, err := agentproto.ReadFrame(br, 0)
		must(t, err)
		b, ok := m.(*agentproto.Blob)
		if !ok || len(b.Data) < 512<<10 {
			t.Fatalf("reply %#v", m)
		}
	}
	if got := v.srv.MaxRepliesSeen(); got < 1 || got > 4 {
		t.Fatalf("%d data replies at once, want 1-4 (MaxReplies)", got)
	}
}

// putTree stores nodes as a tree blob and returns its ID.
func putTree(t *testing.T, c *tls.Conn, br *bufio.Reader, fp *fingerprint.Hasher, id uint32, nodes []tree.Node) fingerprint.ID {
	t.Helper()
	b, err := tree.EncodeNodes(nodes)
	must(t, err)
	tid := fp.Sum(b)
	if _, ok := roundTrip(t, c, br, id, &agentproto.PutBlob{BlobType: uint8(pack.Tree), ID: tid, Size: uint32(len(b)), Data: b}).(*agentproto.PutOK); !ok {
		t.Fatal("put tree refused")
	}
	return tid
}

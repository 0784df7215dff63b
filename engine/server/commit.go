package server

import (
	"context"
	"errors"
	"fmt"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// errIncomplete: a tree refers to a blob the repository lacks.
var errIncomplete = errors.New("snapshot refers to blobs the vault does not have")

// commit saves the agent's snapshot under the authenticated name, once
// every blob its tree refers to is present.
func (ss *session) commit(ctx context.Context, m *agentproto.Commit) agentproto.Message {
	s := ss.s
	snap, err := snapshot.Decode(m.Snapshot)
	if err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	ss.mu.Lock()
	jobID, done, committed := ss.jobID, ss.jobDone, ss.committed
	if jobID != "" && jobID != "-" && !done && !committed {
		ss.committed = true
	}
	c := ss.c
	ss.mu.Unlock()
	switch {
	case jobID == "" || jobID == "-":
		return errMsg(agentproto.CodeNoJob, "commit without a job: send BeginJob first")
	case done || committed:
		return errMsg(agentproto.CodeBadRequest, "this session's job has ended or committed already: one snapshot per connection")
	}
	uncommit := func() {
		ss.mu.Lock()
		ss.committed = false
		ss.mu.Unlock()
	}
	// The vault's word, not the agent's: whose snapshot it is and what
	// this session stored.
	snap.Client = ss.client
	if !snap.Parent.IsZero() {
		// The parent is one of this client's own snapshots: a grant
		// (MayRead) lets a client read another's, not continue its chain.
		p, err := ss.loadOwn(ctx, snap.Parent)
		if err == nil && p.Client != ss.client {
			err = &agentproto.Error{Code: agentproto.CodeNotFound, Message: fmt.Sprintf(
				"snapshot %s is client %s's, which a grant lets this client read but not take as the parent of its own: back up without it (a full backup)", snap.Parent.Short(), p.Client)}
		}
		if err != nil {
			uncommit()
			return fail(fmt.Errorf("commit: parent: %w", err))
		}
	}
	// Trees just sent are in open packs: flush so they can be read back
	// (and so the stored bytes are exact).
	before := ss.unflushed()
	if err := s.Repo.Flush(ctx); err != nil {
		uncommit()
		return fail(fmt.Errorf("commit: flush: %w", err))
	}
	ss.flushed(before)
	ss.mu.Lock()
	stored := ss.storedLocked()
	ss.mu.Unlock()
	sum := &snap.Summary
	sum.ChunksNew, sum.TreesNew = c.chunksNew, c.treesNew
	sum.BytesNew, sum.BytesStored = c.dataNew+c.treeNew, stored
	sum.DedupRatio, sum.Compression = 0, 0
	if sum.BytesNew > 0 {
		sum.DedupRatio = float64(sum.BytesSeen) / float64(sum.BytesNew)
	}
	if sum.BytesStored > 0 {
		sum.Compression = float64(sum.BytesNew) / float64(sum.BytesStored)
	}
	if err := s.checkComplete(ctx, snap.Tree); err != nil {
		uncommit()
		if errors.Is(err, errIncomplete) {
			ss.log.Warn("commit refused", "error", err)
			return errMsg(agentproto.CodeIncomplete, "commit refused: "+err.Error()+"; send the missing blobs, flush and commit again")
		}
		return fail(fmt.Errorf("commit: %w", err))
	}
	if err := snapshot.Save(ctx, s.Repo, snap); err != nil {
		uncommit()
		return fail(fmt.Errorf("commit: %w", err))
	}
	ss.mu.Lock()
	if ss.jobID == jobID {
		ss.jobDone = true
	}
	ss.mu.Unlock()
	err = s.Jobs.Finish(jobID, jobs.Succeeded, "", func(j *jobs.Job) {
		ss.applyCounts(j)
		j.Snapshot = snap.ID.String()
		if snap.Summary.Skipped > j.Skipped {
			j.Skipped = snap.Summary.Skipped
		}
		j.Counts.Files, j.Counts.Dirs = snap.Summary.FilesSeen, snap.Summary.DirsSeen
		j.Counts.BytesSeen, j.Counts.BytesRead = snap.Summary.BytesSeen, snap.Summary.BytesRead
	})
	if err != nil {
		ss.log.Error("snapshot committed but its job record failed", "job", jobID, "error", err)
	}
	ss.log.Info("snapshot committed", "snapshot", snap.ID.Short(), "job", jobID)
	return &agentproto.Committed{ID: snap.ID}
}

// checkComplete walks the tree rooted at root and checks that every blob
// it refers to is in the repository: trees are read (so they must be
// flushed), data blobs looked up. Trees proven complete are cached, so
// the unchanged part of an incremental costs one lookup per subtree.
func (s *Server) checkComplete(ctx context.Context, root fingerprint.ID) error {
	return s.walkTree(ctx, root, "")
}

func (s *Server) walkTree(ctx context.Context, id fingerprint.ID, path string) error {
	if s.isComplete(id) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	blob, err := s.loadTree(ctx, id, path)
	if err != nil {
		return err
	}
	switch blob.Kind {
	case tree.KindNodes:
		if err := s.walkNodes(ctx, blob.Nodes, path); err != nil {
			return err
		}
	case tree.KindParts:
		for _, pid := range blob.Parts {
			part, err := s.loadTree(ctx, pid, path)
			if err != nil {
				return err
			}
			if part.Kind != tree.KindNodes {
				return fmt.Errorf("tree %s of %q: part %s is of kind %d: %w", id.Short(), path, pid.Short(), part.Kind, tree.ErrFormat)
			}
			if err := s.walkNodes(ctx, part.Nodes, path); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("tree %s of %q is of kind %d, not a directory: %w", id.Short(), path, blob.Kind, tree.ErrFormat)
	}
	s.setComplete(id)
	return nil
}

func (s *Server) loadTree(ctx context.Context, id fingerprint.ID, path string) (*tree.Blob, error) {
	b, err := s.Repo.Get(ctx, pack.Tree, id, nil)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, fmt.Errorf("%w: tree %s of %q is missing", errIncomplete, id.Short(), "/"+path)
	}
	if err != nil {
		return nil, err
	}
	return tree.Decode(b)
}

func (s *Server) walkNodes(ctx context.Context, nodes []tree.Node, dir string) error {
	for i := range nodes {
		n := &nodes[i]
		p := dir + "/" + n.Name
		if n.Type == tree.Dir && !n.Subtree.IsZero() {
			if err := s.walkTree(ctx, n.Subtree, p); err != nil {
				return err
			}
		}
		if err := s.checkExtents(n.Content, p); err != nil {
			return err
		}
		for _, cid := range n.ContentBlobs {
			blob, err := s.loadTree(ctx, cid, p)
			if err != nil {
				return err
			}
			if blob.Kind != tree.KindExtents {
				return fmt.Errorf("content blob %s of %q is of kind %d: %w", cid.Short(), p, blob.Kind, tree.ErrFormat)
			}
			if err := s.checkExtents(blob.Extents, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) checkExtents(es []tree.Extent, path string) error {
	for _, e := range es {
		if !e.Hole && !s.Repo.Has(pack.Data, e.ID) {
			return fmt.Errorf("%w: chunk %s of %q is missing", errIncomplete, e.ID.Short(), path)
		}
	}
	return nil
}

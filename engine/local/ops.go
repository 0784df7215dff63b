package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"keep/engine/backup"
	"keep/engine/browse"
	"keep/engine/jobs"
	"keep/engine/restore"
	"keep/engine/snapshot"
)

// Status is the engine at a glance.
type Status struct {
	Dir        string `json:"dir"`
	KeyID      string `json:"key_id"`
	Snapshots  int    `json:"snapshots"`
	Damaged    int    `json:"damaged_snapshots"`
	Blobs      int    `json:"blobs"`
	Packs      int    `json:"packs"`
	IndexBytes int    `json:"index_bytes"`
	Clients    int    `json:"clients"`
	Running    int    `json:"jobs_running"`
	// RecoveryKeyOnBox: the recovery key is still in the engine's
	// directory, waiting for the operator to take it off the box.
	RecoveryKeyOnBox bool `json:"recovery_key_on_box"`
	// CAFingerprint is what agents pin (hex SHA-256 of the CA certificate).
	CAFingerprint string `json:"ca_fingerprint"`
}

// Status reads the engine's state.
func (e *Engine) Status(ctx context.Context) (Status, error) {
	snaps, damaged, err := snapshot.List(ctx, e.Repo)
	if err != nil {
		return Status{}, fmt.Errorf("engine: %w", err)
	}
	js, err := e.Jobs.List()
	if err != nil {
		return Status{}, fmt.Errorf("engine: %w", err)
	}
	st := e.Repo.Stats()
	_, onBox, _ := e.RecoveryKey()
	fp := e.CA.Fingerprint()
	s := Status{
		Dir: e.Dir, KeyID: e.KeyID, Snapshots: len(snaps), Damaged: len(damaged),
		Blobs: st.Blobs, Packs: st.Packs, IndexBytes: st.IndexBytes, Clients: len(e.CA.Clients()),
		RecoveryKeyOnBox: onBox, CAFingerprint: fmt.Sprintf("%x", fp[:]),
	}
	for _, j := range js {
		if j.State == jobs.Running {
			s.Running++
		}
	}
	return s, nil
}

// Snapshots lists the snapshots f selects, newest first.
func (e *Engine) Snapshots(ctx context.Context, f browse.Filter) ([]*snapshot.Snapshot, []snapshot.Damaged, error) {
	snaps, damaged, err := browse.Snapshots(ctx, e.Repo, f)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	slices.SortFunc(snaps, func(a, b *snapshot.Snapshot) int { return b.Time.Compare(a.Time) })
	return snaps, damaged, nil
}

// VerifyResult is a verify job's outcome.
type VerifyResult struct {
	Job    jobs.Job            `json:"job"`
	Report *restore.RepoReport `json:"-"`
}

// Verify re-reads and authenticates percent of the stored data chunks
// (100: all) and every tree, recorded as a verify job. Damage is a
// result, not an error: the job is failed and the report names it.
func (e *Engine) Verify(ctx context.Context, percent float64, now func() time.Time) (*VerifyResult, error) {
	if percent <= 0 || percent > 100 {
		return nil, fmt.Errorf("engine: verify sample %g%% is outside (0, 100]", percent)
	}
	id, err := e.Jobs.Start(jobs.Job{Client: "vault", Kind: jobs.Verify})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	rep, verr := restore.VerifyRepo(ctx, e.Repo, restore.VerifyOptions{Percent: percent, Seed: uint64(now().UnixNano())})
	state, reason := jobs.Succeeded, ""
	switch {
	case verr != nil:
		state, reason = jobs.Failed, verr.Error()
	case !rep.OK():
		state = jobs.Failed
		reason = fmt.Sprintf("%d damaged blobs, %d damaged snapshot files, %d snapshots affected",
			len(rep.Damaged), len(rep.DamagedSnapshots), len(rep.Affected()))
	}
	err = e.Jobs.Finish(id, state, reason, func(j *jobs.Job) {
		if rep == nil {
			return
		}
		j.Counts.BytesRead = rep.Bytes
		j.Counts.Files = int64(rep.Read)
		for _, d := range rep.Damaged {
			j.AddItems(jobs.Item{Path: d.String(), Reason: fmt.Sprint(d.Err)})
			for _, u := range d.Uses {
				j.AddItems(jobs.Item{Path: fmt.Sprintf("snapshot %.12s: %s", u.Snapshot.String(), u.Path),
					Reason: fmt.Sprintf("needs damaged %s %.12s", d.Type, d.ID.String())})
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	j, err := e.Jobs.Get(id)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if verr != nil {
		return &VerifyResult{Job: j}, fmt.Errorf("engine: verify: %w", verr)
	}
	return &VerifyResult{Job: j, Report: rep}, nil
}

// SyntheticFull makes a full backup of client on the vault from what it
// holds (engine/backup.SyntheticFull), without the client: from the
// snapshot head, or the client's newest when head is empty. It is recorded
// as a synthetic-full job.
func (e *Engine) SyntheticFull(ctx context.Context, client, head string) (*snapshot.Snapshot, jobs.Job, error) {
	snaps, _, err := e.Snapshots(ctx, browse.Filter{Client: client})
	if err != nil {
		return nil, jobs.Job{}, err
	}
	var h *snapshot.Snapshot
	for _, s := range snaps { // newest first
		if head == "" || strings.HasPrefix(s.ID.String(), head) {
			if h != nil && head != "" {
				return nil, jobs.Job{}, fmt.Errorf("engine: snapshot prefix %q is ambiguous: give more digits", head)
			}
			h = s
			if head == "" {
				break
			}
		}
	}
	if h == nil {
		return nil, jobs.Job{}, fmt.Errorf("engine: %w: client %q has no snapshot %s to build a synthetic full from", jobs.ErrNotFound, client, head)
	}
	id, err := e.Jobs.Start(jobs.Job{Client: client, Hostname: h.Hostname, Kind: jobs.SyntheticFull, Paths: h.Paths, Parent: h.ID.String()})
	if err != nil {
		return nil, jobs.Job{}, fmt.Errorf("engine: %w", err)
	}
	s, serr := backup.SyntheticFull(ctx, e.Repo, h, backup.SyntheticOptions{})
	state, reason := jobs.Succeeded, ""
	if serr != nil {
		state, reason = jobs.Failed, serr.Error()
	}
	err = e.Jobs.Finish(id, state, reason, func(j *jobs.Job) {
		if s != nil {
			j.Snapshot = s.ID.String()
			j.Counts.Files, j.Counts.Dirs, j.Counts.BytesSeen = s.Summary.FilesSeen, s.Summary.DirsSeen, s.Summary.BytesSeen
		}
	})
	if err != nil {
		return nil, jobs.Job{}, fmt.Errorf("engine: %w", err)
	}
	j, err := e.Jobs.Get(id)
	if err != nil {
		return nil, jobs.Job{}, fmt.Errorf("engine: %w", err)
	}
	if serr != nil {
		return nil, j, fmt.Errorf("engine: synthetic full of %s: %w", client, serr)
	}
	return s, j, nil
}

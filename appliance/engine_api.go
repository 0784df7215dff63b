package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/engine/backup"
	"keep/engine/browse"
	"keep/engine/enrol"
	"keep/engine/jobs"
	"keep/engine/local"
	"keep/engine/pack"
)

// openEngine returns the running engine or api.ErrNoEngine.
func (a *Appliance) openEngine() (*local.Engine, error) {
	if a.engine == nil {
		return nil, fmt.Errorf("%w: it is disabled (engine.enabled)", api.ErrNoEngine)
	}
	e, err := a.engine.engine()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrNoEngine, err)
	}
	return e, nil
}

func (a *Appliance) EngineStatus(ctx context.Context) (local.Status, error) {
	e, err := a.openEngine()
	if err != nil {
		return local.Status{}, err
	}
	return e.Status(ctx)
}

func (a *Appliance) Jobs(ctx context.Context, q api.JobQuery) ([]jobs.Job, error) {
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	all, err := e.Jobs.List()
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, j := range all {
		if (q.Client == "" || j.Client == q.Client) && (q.State == "" || string(j.State) == q.State) {
			out = append(out, j)
		}
	}
	slices.SortStableFunc(out, func(x, y jobs.Job) int { return y.Start.Compare(x.Start) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (a *Appliance) Job(ctx context.Context, id string) (jobs.Job, error) {
	e, err := a.openEngine()
	if err != nil {
		return jobs.Job{}, err
	}
	return e.Jobs.Get(id)
}

func (a *Appliance) Snapshots(ctx context.Context, q api.SnapshotQuery) (api.SnapshotList, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.SnapshotList{}, err
	}
	snaps, damaged, err := e.Snapshots(ctx, browse.Filter{Client: q.Client, Path: q.Path, From: q.Since})
	if err != nil {
		return api.SnapshotList{}, err
	}
	var l api.SnapshotList
	for _, s := range snaps {
		l.Snapshots = append(l.Snapshots, api.SnapshotInfo{ID: s.ID.String(), Snapshot: *s})
	}
	for _, d := range damaged {
		l.Damaged = append(l.Damaged, fmt.Sprintf("%s: %v", d.ID, d.Err))
	}
	return l, nil
}

func (a *Appliance) Clients(ctx context.Context) ([]enrol.Client, error) {
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	return e.CA.Clients(), nil
}

func (a *Appliance) NewToken(ctx context.Context, req api.TokenRequest) (api.TokenResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.TokenResponse{}, err
	}
	if !enrol.ValidClientName(req.Client) {
		return api.TokenResponse{}, api.BadEngineRequest(fmt.Errorf("%q is not a client name (letters, digits, '.', '-', '_')", req.Client))
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > 30*24*3600 {
		return api.TokenResponse{}, api.BadEngineRequest(fmt.Errorf("ttl %ds is outside 0-30 days", req.TTLSeconds))
	}
	addr := req.Address
	if addr == "" {
		addr = a.engineAddress()
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return api.TokenResponse{}, api.BadEngineRequest(fmt.Errorf("address %q is not host:port: give the address agents dial", addr))
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = enrol.DefaultTokenTTL
	}
	tok, err := e.CA.NewToken(req.Client, addr, ttl)
	if err != nil {
		return api.TokenResponse{}, err
	}
	a.emitter("engine")(events.Notice, "engine.token_issued", "enrolment token issued for client "+req.Client, map[string]string{"client": req.Client})
	return api.TokenResponse{Client: req.Client, Token: tok, Expires: time.Now().Add(ttl).UTC(), Address: addr}, nil
}

// engineAddress is the host:port agents dial, as the box knows it: the
// listener's port on the first global address of the box (or its host
// name when it has none).
func (a *Appliance) engineAddress() string {
	a.engine.mu.Lock()
	listen := a.engine.addr
	a.engine.mu.Unlock()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return listen
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok && n.IP.IsGlobalUnicast() && n.IP.To4() != nil {
				return net.JoinHostPort(n.IP.String(), port)
			}
		}
	}
	h, _ := os.Hostname()
	return net.JoinHostPort(h, port)
}

func (a *Appliance) Revoke(ctx context.Context, client string) (api.RevokeResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.RevokeResponse{}, err
	}
	n, cut, err := e.RevokeClient(client)
	if err != nil {
		return api.RevokeResponse{}, err
	}
	if n == 0 && cut == 0 {
		return api.RevokeResponse{}, fmt.Errorf("%w: client %q has no certificate to revoke", jobs.ErrNotFound, client)
	}
	a.emitter("engine")(events.Warning, "engine.client_revoked", fmt.Sprintf("client %s revoked (%d certificates, %d connections cut)", client, n, cut),
		map[string]string{"client": client, "cut": strconv.Itoa(cut)})
	return api.RevokeResponse{Client: client, Revoked: n, Cut: cut}, nil
}

func (a *Appliance) Verify(ctx context.Context, req api.VerifyRequest) (api.VerifyResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.VerifyResponse{}, err
	}
	p := req.Percent
	if p == 0 {
		p = 100
	}
	if p < 0 || p > 100 {
		return api.VerifyResponse{}, api.BadEngineRequest(fmt.Errorf("sample %g%% is outside 0-100", p))
	}
	v, err := e.Verify(ctx, p, time.Now)
	if err != nil {
		return api.VerifyResponse{}, err
	}
	r := v.Report
	out := api.VerifyResponse{Job: v.Job, Snapshots: r.Snapshots, Chunks: r.Chunks, Read: r.Read, Bytes: r.Bytes, Damaged: []api.DamagedChunk{}}
	for _, d := range r.Damaged {
		typ := "data"
		if d.Type == pack.Tree {
			typ = "tree"
		}
		dc := api.DamagedChunk{Type: typ, ID: d.ID.String(), Error: fmt.Sprint(d.Err), MoreUses: d.MoreUses, Uses: []string{}}
		if d.Pack != (pack.ID{}) {
			dc.Pack = d.Pack.String()
		}
		for _, u := range d.Uses {
			dc.Uses = append(dc.Uses, u.Snapshot.String()+":"+u.Path)
		}
		out.Damaged = append(out.Damaged, dc)
	}
	sev, kind := events.Info, "engine.verify_ok"
	msg := fmt.Sprintf("verify of %g%%: %d chunks read, no damage", p, r.Read)
	if !r.OK() {
		sev, kind = events.Error, "engine.verify_damaged"
		msg = fmt.Sprintf("verify of %g%%: %d damaged blobs affect %d snapshots: %s", p, len(r.Damaged), len(r.Affected()), v.Job.Reason)
	}
	a.emitter("engine")(sev, kind, msg, map[string]string{"job": v.Job.ID})
	return out, nil
}

func (a *Appliance) RecoveryKey(ctx context.Context, forget bool) (api.RecoveryKeyResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.RecoveryKeyResponse{}, err
	}
	if forget {
		if err := e.ForgetRecoveryKey(); err != nil {
			return api.RecoveryKeyResponse{}, err
		}
		a.emitter("engine")(events.Notice, "engine.recovery_key_forgotten", "the recovery key was removed from the box", nil)
		return api.RecoveryKeyResponse{OnBox: false}, nil
	}
	k, ok, err := e.RecoveryKey()
	if err != nil {
		return api.RecoveryKeyResponse{}, err
	}
	return api.RecoveryKeyResponse{OnBox: ok, Key: k}, nil
}

func (a *Appliance) GrantRestore(ctx context.Context, req api.GrantRequest) (local.Grant, error) {
	e, err := a.openEngine()
	if err != nil {
		return local.Grant{}, err
	}
	for _, n := range []string{req.Client, req.Owner} {
		if !enrol.ValidClientName(n) {
			return local.Grant{}, api.BadEngineRequest(fmt.Errorf("%q is not a client name", n))
		}
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > 30*24*3600 {
		return local.Grant{}, api.BadEngineRequest(fmt.Errorf("ttl %ds is outside 0-30 days", req.TTLSeconds))
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	g, err := e.GrantRestore(req.Client, req.Owner, ttl)
	if err != nil {
		return local.Grant{}, api.BadEngineRequest(err)
	}
	a.emitter("engine")(events.Notice, "engine.restore_granted", fmt.Sprintf("client %s may restore %s's snapshots until %s", g.Reader, g.Owner, g.Expires.Format(time.RFC3339)),
		map[string]string{"reader": g.Reader, "owner": g.Owner})
	return g, nil
}

// Grants implements api.EngineBackend.
func (a *Appliance) Grants(ctx context.Context) ([]local.Grant, error) {
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	return e.Grants(), nil
}

// RevokeGrant implements api.EngineBackend.
func (a *Appliance) RevokeGrant(ctx context.Context, client, owner string) error {
	e, err := a.openEngine()
	if err != nil {
		return err
	}
	ok, err := e.RevokeGrant(client, owner)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: no grant in force lets client %q read %q's snapshots (keep ctl grants lists them)", jobs.ErrNotFound, client, owner)
	}
	a.emitter("engine")(events.Notice, "engine.restore_grant_revoked", fmt.Sprintf("client %s may no longer restore %s's snapshots", client, owner),
		map[string]string{"reader": client, "owner": owner})
	return nil
}

func (a *Appliance) SyntheticFull(ctx context.Context, req api.SyntheticRequest) (api.SyntheticResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.SyntheticResponse{}, err
	}
	s, j, err := e.SyntheticFull(ctx, req.Client, req.Snapshot)
	if err != nil {
		return api.SyntheticResponse{}, err
	}
	a.emitter("engine")(events.Info, "engine.job_succeeded", fmt.Sprintf("synthetic full of %s: %d files, %d bytes, nothing read from the client", req.Client, j.Counts.Files, j.Counts.BytesSeen),
		map[string]string{"job": j.ID, "client": req.Client, "kind": string(j.Kind), "snapshot": j.Snapshot})
	return api.SyntheticResponse{Snapshot: api.SnapshotInfo{ID: s.ID.String(), Snapshot: *s}, Job: j}, nil
}

// ChangePassphrase implements api.EngineBackend.
func (a *Appliance) ChangePassphrase(ctx context.Context, req api.PassphraseRequest) (local.PassphraseChange, error) {
	e, err := a.openEngine()
	if err != nil {
		return local.PassphraseChange{}, err
	}
	var pass []byte
	if !req.Generate {
		pass = []byte(req.Passphrase)
	}
	pc, err := e.ChangePassphrase(pass)
	if errors.Is(err, local.ErrWeakPassphrase) {
		return pc, api.BadEngineRequest(err)
	}
	if err != nil {
		return pc, err
	}
	how := "an operator passphrase"
	if pc.Generated {
		how = "a passphrase the engine generated"
	}
	a.emitter("engine")(events.Notice, "engine.passphrase_changed", "the engine's master key is now wrapped by "+how+" (nothing re-encrypted; the recovery key still opens it)",
		map[string]string{"key_id": pc.KeyID, "passphrase_file": pc.File})
	return pc, nil
}

var _ api.EngineBackend = (*Appliance)(nil)

// List implements api.EngineBackend.
func (a *Appliance) List(ctx context.Context, q api.ListQuery) (api.Listing, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.Listing{}, err
	}
	l, err := e.List(ctx, q.Snapshot, q.Client, q.Path)
	if err != nil {
		return api.Listing{}, err
	}
	out := api.Listing{Snapshot: api.SnapshotInfo{ID: l.Snapshot.ID.String(), Snapshot: *l.Snapshot}, Path: l.Path}
	for _, en := range l.Entries {
		out.Entries = append(out.Entries, en.JSON(l.Snapshot.ID))
	}
	return out, nil
}

// Find implements api.EngineBackend.
func (a *Appliance) Find(ctx context.Context, q api.FindQuery) (api.FindResponse, error) {
	e, err := a.openEngine()
	if err != nil {
		return api.FindResponse{}, err
	}
	if _, err := backup.CompilePattern(q.Pattern); err != nil {
		return api.FindResponse{}, api.BadEngineRequest(err)
	}
	res, err := e.Find(ctx, q.Pattern, browse.Filter{Client: q.Client, Path: q.Path}, q.Limit)
	if err != nil {
		return api.FindResponse{}, err
	}
	out := api.FindResponse{Truncated: res.Truncated}
	for _, f := range res.Found {
		out.Found = append(out.Found, f.Entry.JSON(f.Snapshot))
	}
	for _, fe := range res.Errors {
		out.Errors = append(out.Errors, fmt.Sprintf("snapshot %s: %s: %v", fe.Snapshot.Short(), fe.Path, fe.Err))
	}
	return out, nil
}

// OpenDownload implements api.EngineBackend: the download is an event
// (who takes a client's data off the vault is the provider's to know).
func (a *Appliance) OpenDownload(ctx context.Context, q api.ListQuery) (api.Download, error) {
	e, err := a.openEngine()
	if err != nil {
		return nil, err
	}
	d, err := e.OpenDownload(ctx, q.Snapshot, q.Client, q.Path)
	if err != nil {
		return nil, err
	}
	a.emitter("engine")(events.Notice, "engine.file_downloaded",
		fmt.Sprintf("%s (%d bytes) of client %s's snapshot %s downloaded through the API", d.Entry.Path, d.Entry.Size, d.Snapshot.Client, d.Snapshot.ID.Short()),
		map[string]string{"client": d.Snapshot.Client, "snapshot": d.Snapshot.ID.String(), "path": d.Entry.Path})
	return d, nil
}

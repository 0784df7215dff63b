package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Grant lets client Reader read (list, open, restore) the snapshots of
// client Owner until Expires: an operator's permission for a restore to
// another client (a replacement server, a test restore on another host).
type Grant struct {
	Reader  string    `json:"reader"`
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// grants are kept in grants.json in the engine directory, written
// durably; expired grants are dropped when the file is next written.
type grants struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
	list []Grant
}

func loadGrants(dir string, now func() time.Time) (*grants, error) {
	g := &grants{path: filepath.Join(dir, "grants.json"), now: now}
	b, err := os.ReadFile(g.path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("engine: grants: %w", err)
	}
	if err := json.Unmarshal(b, &g.list); err != nil {
		return nil, fmt.Errorf("engine: grants file %s is damaged (%v): remove it to drop every grant", g.path, err)
	}
	return g, nil
}

// mayRead is engine/server's MayRead.
func (g *grants) mayRead(reader, owner string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	return slices.ContainsFunc(g.list, func(x Grant) bool {
		return x.Reader == reader && x.Owner == owner && now.Before(x.Expires)
	})
}

// GrantRestore lets reader read owner's snapshots for ttl.
func (e *Engine) GrantRestore(reader, owner string, ttl time.Duration) (Grant, error) {
	if reader == owner {
		return Grant{}, fmt.Errorf("engine: a client always reads its own snapshots")
	}
	if ttl <= 0 {
		return Grant{}, fmt.Errorf("engine: a grant needs a positive duration")
	}
	g := e.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	ng := Grant{Reader: reader, Owner: owner, Expires: now.Add(ttl).UTC()}
	list := slices.DeleteFunc(slices.Clone(g.list), func(x Grant) bool {
		return !now.Before(x.Expires) || (x.Reader == reader && x.Owner == owner)
	})
	list = append(list, ng)
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return Grant{}, fmt.Errorf("engine: grants: %w", err)
	}
	if err := writeDurable(g.path, b); err != nil {
		return Grant{}, err
	}
	g.list = list
	return ng, nil
}

// RevokeGrant ends reader's reads of owner's snapshots before the grant
// expires and reports whether one was in force. Sessions ask at every
// list and open, so new reads end at once; a snapshot a session had
// already opened stays readable to that connection until it closes.
func (e *Engine) RevokeGrant(reader, owner string) (bool, error) {
	g := e.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	found := false
	list := slices.DeleteFunc(slices.Clone(g.list), func(x Grant) bool {
		match := x.Reader == reader && x.Owner == owner
		found = found || (match && now.Before(x.Expires))
		return match || !now.Before(x.Expires)
	})
	if !found {
		return false, nil
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return false, fmt.Errorf("engine: grants: %w", err)
	}
	if err := writeDurable(g.path, b); err != nil {
		return false, err
	}
	g.list = list
	return true, nil
}

// RevokeClient revokes every certificate of client (no new connection
// is accepted) and cuts its connections (their running jobs fail). It
// returns the certificates revoked and the connections cut.
func (e *Engine) RevokeClient(client string) (revoked, cut int, err error) {
	revoked, err = e.CA.RevokeClient(client)
	if err != nil {
		return 0, 0, err
	}
	return revoked, e.Server.Disconnect(client), nil
}

// Grants lists the grants in force.
func (e *Engine) Grants() []Grant {
	g := e.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	var out []Grant
	for _, x := range g.list {
		if now.Before(x.Expires) {
			out = append(out, x)
		}
	}
	return out
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/engine/jobs"
	"keep/engine/local"
)

// grantsBackend is ctlBackend with an engine that only keeps grants; any
// other engine call panics (the nil EngineBackend), so the test shows
// which calls keep ctl makes.
type grantsBackend struct {
	ctlBackend
	api.EngineBackend
	mu     sync.Mutex
	grants []local.Grant
}

func (b *grantsBackend) GrantRestore(_ context.Context, req api.GrantRequest) (local.Grant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := local.Grant{Reader: req.Client, Owner: req.Owner, Expires: time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local).Add(time.Duration(req.TTLSeconds) * time.Second)}
	b.grants = append(b.grants, g)
	return g, nil
}

func (b *grantsBackend) Grants(context.Context) ([]local.Grant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]local.Grant(nil), b.grants...), nil
}

func (b *grantsBackend) RevokeGrant(_ context.Context, client, owner string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, g := range b.grants {
		if g.Reader == client && g.Owner == owner {
			b.grants = append(b.grants[:i], b.grants[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: no grant in force lets client %q read %q's snapshots", jobs.ErrNotFound, client, owner)
}

// TestCtlGrants: grant-restore, grants and grant-restore --revoke through
// the API, as an operator types them.
func TestCtlGrants(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- api.Serve(ctx, []net.Listener{l}, api.Handler(&grantsBackend{})) }()
	defer func() {
		cancel()
		<-done
	}()
	c := api.NewTCPClient(l.Addr().String())
	run := func(args ...string) (string, error) {
		var buf bytes.Buffer
		err := runCtl(context.Background(), c, &ctlOut{w: &buf}, args[0], args[1:])
		return buf.String(), err
	}
	out, err := run("grants")
	if err != nil || !strings.Contains(out, "no grants in force") {
		t.Fatalf("grants, none: %q %v", out, err)
	}
	out, err = run("grant-restore", "web2", "--from", "web1", "--ttl", "1h")
	if err != nil || !strings.Contains(out, "web2 may list and restore web1's snapshots until 2030-01-02 04:04") ||
		!strings.Contains(out, "keep-agent restore latest --client web1") {
		t.Fatalf("grant-restore: %q %v", out, err)
	}
	out, err = run("grants")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 2 ||
		strings.Join(strings.Fields(lines[1]), " ") != "web2 web1 2030-01-02 04:04" {
		t.Fatalf("grants: %q %v", out, err)
	}
	out, err = run("grant-restore", "web2", "--from", "web1", "--revoke")
	if err != nil || !strings.Contains(out, "web2 may no longer list or restore web1's snapshots") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if _, err := run("grant-restore", "web2", "--from", "web1", "--revoke"); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("revoking again: %v", err)
	}
	if _, err := run("grant-restore", "web2", "--revoke"); err == nil || !strings.Contains(err.Error(), "usage: keep ctl grant-restore") {
		t.Fatalf("no --from: %v", err)
	}
	if out, err := run("grants"); err != nil || !strings.Contains(out, "no grants in force") {
		t.Fatalf("grants after revoke: %q %v", out, err)
	}
}

package appliance

import (
	"context"
	"fmt"

	"keep/appliance/api"
	"keep/appliance/events"
)

// tunnelSvc returns the tunnel service or api.ErrNoTunnel.
func (a *Appliance) tunnelSvc() (*tunnelService, error) {
	a.mu.Lock()
	t := a.tunnel
	a.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("%w: it is disabled (tunnel.enabled) or this is not the appliance's init", api.ErrNoTunnel)
	}
	return t, nil
}

// Tunnel implements api.TunnelBackend.
func (a *Appliance) Tunnel(ctx context.Context) (api.TunnelStatus, error) {
	t, err := a.tunnelSvc()
	if err != nil {
		return api.TunnelStatus{}, err
	}
	return t.status(ctx)
}

// TunnelInitiate implements api.TunnelBackend.
func (a *Appliance) TunnelInitiate(ctx context.Context) error {
	t, err := a.tunnelSvc()
	if err != nil {
		return err
	}
	return t.control(ctx, true)
}

// TunnelTerminate implements api.TunnelBackend.
func (a *Appliance) TunnelTerminate(ctx context.Context) error {
	t, err := a.tunnelSvc()
	if err != nil {
		return err
	}
	if err := t.control(ctx, false); err != nil {
		return err
	}
	a.emitter("tunnel")(events.Notice, "tunnel.terminated", "tunnel terminated through the API; traffic to the NOC networks stays blocked until it is initiated again", nil)
	return nil
}

// TunnelRekey implements api.TunnelBackend.
func (a *Appliance) TunnelRekey(ctx context.Context, ike bool) error {
	t, err := a.tunnelSvc()
	if err != nil {
		return err
	}
	return t.rekey(ctx, ike)
}

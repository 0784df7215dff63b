package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

type fakeNetBackend struct {
	fakeBackend
	req     NetworkApplyRequest
	pending bool
}

func (f *fakeNetBackend) ApplyNetwork(ctx context.Context, req NetworkApplyRequest) (NetworkApplyResult, error) {
	f.req = req
	if req.YAML == "bad" {
		return NetworkApplyResult{}, fmt.Errorf("%w: ethernets.eth0.mtu: 12 is outside 576-9216", ErrBadNetworkConfig)
	}
	if f.pending {
		return NetworkApplyResult{}, fmt.Errorf("%w: one is on probation", ErrNetworkConflict)
	}
	f.pending = true
	return NetworkApplyResult{Outcome: "pending", Changes: []string{"bond0: up"}, Deadline: time.Unix(100, 0)}, nil
}
func (f *fakeNetBackend) ConfirmNetwork(ctx context.Context) (NetworkApplyResult, error) {
	if !f.pending {
		return NetworkApplyResult{}, fmt.Errorf("%w: nothing on probation", ErrNetworkConflict)
	}
	f.pending = false
	return NetworkApplyResult{Outcome: "confirmed", Changes: []string{}}, nil
}
func (f *fakeNetBackend) RevertNetwork(ctx context.Context) (NetworkApplyResult, error) {
	return f.ConfirmNetwork(ctx)
}
func (f *fakeNetBackend) NetworkHistory(limit int) NetworkHistory {
	return NetworkHistory{Interval: "5s", Links: map[string][]LinkRate{"eth0": {{Link: "eth0", RxBps: float64(limit)}}}}
}

func TestNetworkEndpoints(t *testing.T) {
	b := &fakeNetBackend{}
	c, _ := serve(t, b)
	ctx := context.Background()
	res, err := c.ApplyNetwork(ctx, "ethernets: {}", 2*time.Minute)
	if err != nil || res.Outcome != "pending" || len(res.Changes) != 1 || !res.Deadline.Equal(time.Unix(100, 0)) {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if b.req.ConfirmWithin != "2m0s" || b.req.YAML != "ethernets: {}" {
		t.Errorf("request %+v", b.req)
	}
	if _, err := c.ApplyNetwork(ctx, "ethernets: {}", 0); !IsCode(err, CodeUnavailable) || err.(*Error).Status != http.StatusConflict {
		t.Errorf("second apply while pending: %v", err)
	}
	if _, err := c.ApplyNetwork(ctx, "bad", 0); !IsCode(err, CodeBadRequest) || err.(*Error).Status != http.StatusBadRequest {
		t.Errorf("bad config: %v", err)
	}
	if res, err := c.ConfirmNetwork(ctx); err != nil || res.Outcome != "confirmed" {
		t.Errorf("confirm: %+v %v", res, err)
	}
	if _, err := c.RevertNetwork(ctx); !IsCode(err, CodeUnavailable) {
		t.Errorf("revert with nothing pending: %v", err)
	}
	if h, err := c.NetworkHistory(ctx, 7); err != nil || h.Links["eth0"][0].RxBps != 7 {
		t.Errorf("history %+v %v", h, err)
	}
	// A backend without a network answers 404.
	plain, _ := serve(t, &fakeBackend{})
	if _, err := plain.ConfirmNetwork(ctx); !IsCode(err, CodeNotFound) {
		t.Errorf("no network service: %v", err)
	}
}

package api

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeBMCBackend struct {
	fakeBackend
	sel int
	err error
}

func (f *fakeBMCBackend) BMCDetail(ctx context.Context, sel int) (BMCDetail, error) {
	f.sel = sel
	return BMCDetail{BMC: BMC{Present: true, BoardSerial: "B-1"}, SELTotal: 3,
		SEL: []BMCSELEntry{{ID: 2, Event: "C: boot completed", Asserted: true}}}, f.err
}

func TestBMCEndpoint(t *testing.T) {
	b := &fakeBMCBackend{}
	_, c := serve(t, b)
	ctx := context.Background()
	d, err := c.BMC(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.sel != 1 || d.BMC.BoardSerial != "B-1" || d.SELTotal != 3 || len(d.SEL) != 1 || d.Sensors == nil {
		t.Errorf("sel=%d detail %+v", b.sel, d)
	}
	if _, err := c.BMC(ctx, 0); err != nil || b.sel != 0 {
		t.Errorf("all entries: sel=%d %v", b.sel, err)
	}
	b.err = ErrNoBMCService
	if _, err := c.BMC(ctx, 0); err == nil || !strings.Contains(err.Error(), "not running as the appliance's init") {
		t.Errorf("no BMC service: %v", err)
	}
	b.err = errors.New("kcs wedged")
	if _, err := c.BMC(ctx, 0); err == nil || !strings.Contains(err.Error(), "kcs wedged") {
		t.Errorf("failing BMC: %v", err)
	}
}

// A backend without a BMC has no /v1/bmc.
func TestBMCEndpointAbsent(t *testing.T) {
	_, c := serve(t, &fakeBackend{})
	if _, err := c.BMC(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "no API endpoint") {
		t.Errorf("GET /v1/bmc without a BMC backend: %v", err)
	}
}

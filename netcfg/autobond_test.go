package netcfg

import (
	"context"
	"testing"

	"github.com/vishvananda/netlink"
)

// autoBondKernel loads the bonding driver on the first bond request, as
// the kernel's request_module does: the driver makes bond0 (balance-rr,
// down) by itself unless max_bonds=0, so the request then finds it.
type autoBondKernel struct {
	*fakeKernel
	loaded bool
}

func (k *autoBondKernel) LinkAdd(link netlink.Link) error {
	if _, ok := link.(*netlink.Bond); ok && !k.loaded {
		k.loaded = true
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "bond0"
		if err := k.fakeKernel.LinkAdd(netlink.NewLinkBond(attrs)); err != nil {
			return err
		}
	}
	return k.fakeKernel.LinkAdd(link)
}

func TestApplyTakesTheDriversOwnBond(t *testing.T) {
	fk := newFakeKernel()
	fk.port("eth1", mac(1))
	fk.port("eth2", mac(2))
	k := &autoBondKernel{fakeKernel: fk}
	want := desired(t, Config{
		Ethernets: map[string]EthernetConfig{"eth1": {}, "eth2": {}},
		Bonds: map[string]BondConfig{"bond0": {Interfaces: []string{"eth1", "eth2"},
			Parameters: BondParameters{Mode: "active-backup", MIIMonitorInterval: 100}}},
	})
	a := Applier{H: k, LinkWait: 0, Poll: 1}
	if _, err := a.Apply(context.Background(), want); err != nil {
		t.Fatalf("apply with the driver's bond0 in the way: %v", err)
	}
	b := fk.byName("bond0")
	if b == nil || b.mode != netlink.BOND_MODE_ACTIVE_BACKUP || b.miimon != 100 || !b.up || len(fk.slaves(b.index)) != 2 {
		t.Fatalf("bond0 %+v", b)
	}
	p, err := a.Plan(context.Background(), want, nil)
	if err != nil || !p.Empty() {
		t.Errorf("not converged: %v\n%s", err, p)
	}
}

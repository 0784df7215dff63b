package netcfg

import (
	"context"
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"go.yaml.in/yaml/v3"
)

// FuzzConfigApply parses a network section (outside bytes: the
// administrator's YAML) and, when it validates, converts it, applies it
// to the fake kernel of a four-port box and plans again: the second
// plan must be empty. Validation must catch whatever Desired or the
// planner would refuse for reasons other than the hardware.
func FuzzConfigApply(f *testing.F) {
	for _, c := range configs() {
		b, err := yaml.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("ethernets: {enp1s0: {addresses: [10.0.0.2/8], routes: [{to: default, via: 10.0.0.1, table: 7}]}}\n"))
	f.Add([]byte("ethernets: {a: {match: {name: 'enp[12]s0'}}, b: {match: {macaddress: '52:54:00:00:00:03'}, set-name: enp1s0}}\nbonds: {bond0: {interfaces: [a]}}\nvlans: {v5: {id: 5, link: bond0, mtu: 1400}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if err := yaml.Unmarshal(data, &c); err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		want, err := c.Desired()
		if err != nil {
			t.Fatalf("a valid configuration does not convert: %v", err)
		}
		k := boxKernel()
		a := Applier{H: k}
		if _, err := a.Apply(context.Background(), want); err != nil {
			if errors.Is(err, ErrNoLink) || errors.Is(err, ErrConflict) {
				return // the box lacks or cannot tell apart the ports named
			}
			if errors.Is(err, unix.ENETUNREACH) && slices.ContainsFunc(want, func(e Ethernet) bool { return e.DHCP4 }) {
				return // the gateway is on a network DHCP would bring
			}
			t.Fatalf("apply: %v\ncalls %q", err, k.calls)
		}
		p, err := a.Plan(context.Background(), want, nil)
		if err != nil || !p.Empty() {
			t.Fatalf("plan after apply: %v\n%s", err, p)
		}
	})
}

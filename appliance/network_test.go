package appliance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"io"
	"keep/appliance/api"
	"keep/netcfg"
	"keep/netcfg/traffic"
	"net"
)

func TestParseNetworkSection(t *testing.T) {
	bare := "ethernets:\n  eth0:\n    addresses: [192.0.2.10/24]\nntp:\n  servers: [pool.example.net]\n"
	doc := "network:\n  ethernets:\n    eth0:\n      addresses: [192.0.2.10/24]\n  ntp:\n    servers: [pool.example.net]\n"
	for name, text := range map[string]string{"section": bare, "document": doc} {
		c, err := ParseNetworkSection(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.Ethernets["eth0"].Addresses; len(got) != 1 || got[0] != "192.0.2.10/24" || c.NTP.Servers[0] != "pool.example.net" {
			t.Errorf("%s: %+v", name, c)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"ethernets:\n  eth0:\n    adresses: [192.0.2.10/24]\n", "adresses"},
		{"ethernets:\n  eth0:\n    mtu: 12\n", "ethernets.eth0.mtu"},
		{"bonds:\n  bond0:\n    interfaces: [eth9]\n", "bonds.bond0.interfaces[0]"},
		{"network: [1, 2]\n", "bad network configuration"},
		{": :\n", "bad network configuration"},
	} {
		_, err := ParseNetworkSection(tc.text)
		if err == nil || !errors.Is(err, api.ErrBadNetworkConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an ErrBadNetworkConfig naming %s", tc.text, err, tc.want)
		}
	}
}

func TestRateSampler(t *testing.T) {
	r := newRateSampler(5*time.Second, 3)
	t0 := time.Unix(1000, 0)
	link := func(name string, rx, tx, errs uint64) netcfg.LinkInfo {
		return netcfg.LinkInfo{Name: name, Counters: netcfg.LinkStats{RxBytes: rx, TxBytes: tx, RxPackets: rx / 100, TxPackets: tx / 100, RxErrors: errs}}
	}
	r.add(t0, []netcfg.LinkInfo{link("eth0", 0, 0, 0)})
	if got := r.latest(); len(got) != 0 {
		t.Fatalf("a rate from one sample: %+v", got)
	}
	r.add(t0.Add(5*time.Second), []netcfg.LinkInfo{link("eth0", 5000, 10000, 5)})
	got := r.latest()
	if len(got) != 1 || got[0].RxBps != 1000 || got[0].TxBps != 2000 || got[0].RxPps != 10 || got[0].TxPps != 20 || got[0].Errors != 1 {
		t.Fatalf("rates %+v", got)
	}
	// A counter going back (the link was recreated) is no negative rate.
	r.add(t0.Add(10*time.Second), []netcfg.LinkInfo{link("eth0", 100, 10500, 5)})
	if got := r.latest(); got[0].RxBps != 0 || got[0].TxBps != 100 {
		t.Errorf("after a reset %+v", got)
	}
	for i := 3; i < 8; i++ {
		r.add(t0.Add(time.Duration(i)*5*time.Second), []netcfg.LinkInfo{link("eth0", 100, 10500, 5), link("bond0", 0, 0, 0)})
	}
	h := r.history(0)
	if len(h.Links["eth0"]) != 3 || h.Interval != "5s" {
		t.Errorf("history not bounded to 3: %d samples", len(h.Links["eth0"]))
	}
	if h := r.history(2); len(h.Links["eth0"]) != 2 || !h.Links["eth0"][1].Time.Equal(t0.Add(35*time.Second)) {
		t.Errorf("limited history %+v", h.Links["eth0"])
	}
	// A link that disappears leaves the history.
	r.add(t0.Add(40*time.Second), []netcfg.LinkInfo{link("bond0", 0, 0, 0)})
	if _, ok := r.history(0).Links["eth0"]; ok {
		t.Errorf("eth0 still in the history after it went away")
	}
}

// Traffic classes are sampled into rates like links, as "class:<name>".
func TestRateSamplerClasses(t *testing.T) {
	var m traffic.Meter
	r := newRateSampler(5*time.Second, 10)
	r.classes = m.Snapshot
	c1, c2 := net.Pipe()
	defer c2.Close()
	mc := m.Conn(c1, traffic.Management)
	go io.Copy(io.Discard, c2)
	t0 := time.Unix(1000, 0)
	r.add(t0, r.classLinks())
	if _, err := mc.Write(make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	r.add(t0.Add(5*time.Second), r.classLinks())
	var got *api.LinkRate
	for _, l := range r.latest() {
		if l.Link == "class:management" {
			got = &l
		}
	}
	if got == nil || got.TxBps != 1000 || got.RxBps != 0 {
		t.Fatalf("class rate = %+v (latest %+v)", got, r.latest())
	}
}

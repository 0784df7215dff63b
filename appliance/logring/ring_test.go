package logring

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func fixedNow() time.Time { return time.Unix(1700000000, 0) }

func TestRingThroughHclog(t *testing.T) {
	ring := New(8, hclog.Info, fixedNow)
	root := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "keep", Output: discard{}, Level: hclog.Trace})
	root.RegisterSink(ring)
	root.Named("network").Info("link up", "link", "eth0")
	root.Named("api").Debug("not kept: below the ring's level")
	root.Named("api").Warn("slow client")
	root.Named("network").Named("dhcp").Error("no lease")

	all, dropped := ring.Query("", 0)
	if dropped != 0 || len(all) != 3 {
		t.Fatalf("got %d lines, %d dropped: %+v", len(all), dropped, all)
	}
	if all[0].Logger != "keep.network" || all[0].Message != "link up" || all[0].Fields["link"] != "eth0" || all[0].Level != "info" {
		t.Errorf("first line = %+v", all[0])
	}
	net, _ := ring.Query("network", 0)
	if len(net) != 2 || net[1].Logger != "keep.network.dhcp" {
		t.Errorf("network lines = %+v", net)
	}
	api, _ := ring.Query("keep.api", 0)
	if len(api) != 1 || api[0].Message != "slow client" {
		t.Errorf("api lines = %+v", api)
	}
	if none, _ := ring.Query("net", 0); len(none) != 0 {
		t.Errorf("prefix of a name matched: %+v", none)
	}
}

func TestRingWrapsAndLimits(t *testing.T) {
	ring := New(4, hclog.Trace, fixedNow)
	for i := 1; i <= 10; i++ {
		ring.Accept("keep.s", hclog.Info, fmt.Sprint(i))
	}
	lines, dropped := ring.Query("", 0)
	if dropped != 6 {
		t.Errorf("dropped = %d, want 6", dropped)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Message)
	}
	if fmt.Sprint(got) != "[7 8 9 10]" {
		t.Errorf("lines = %v, want the newest four oldest first", got)
	}
	last2, _ := ring.Query("", 2)
	if len(last2) != 2 || last2[0].Message != "9" || last2[1].Seq != 10 {
		t.Errorf("limit 2 = %+v", last2)
	}
}

func TestRingConcurrent(t *testing.T) {
	ring := New(64, hclog.Trace, fixedNow)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				ring.Accept("keep.x", hclog.Info, "m")
				ring.Query("x", 5)
			}
		}()
	}
	wg.Wait()
	lines, dropped := ring.Query("", 0)
	if len(lines) != 64 || dropped != 2000-64 || lines[63].Seq != 2000 {
		t.Fatalf("len %d dropped %d last seq %d", len(lines), dropped, lines[len(lines)-1].Seq)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

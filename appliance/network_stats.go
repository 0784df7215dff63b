package appliance

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"keep/appliance/api"
	"keep/netcfg"
	"keep/netcfg/traffic"
)

// rateSampler turns the links' counters (netlink IFLA_STATS64) into
// rates every interval and keeps the last keep samples of each link, for
// GET /v1/network and the monitoring hub's bandwidth charts. Traffic
// classes (netcfg/traffic: agent ingest, replication, management, as the
// services that own the sockets tag them) are sampled the same way, as
// pseudo-links named "class:<name>".
type rateSampler struct {
	interval time.Duration
	keep     int
	// classes returns the per-class byte totals (nil: none).
	classes func() map[traffic.Class]traffic.Counters

	mu   sync.Mutex
	last map[string]counterSample
	hist map[string][]api.LinkRate
}

type counterSample struct {
	at time.Time
	st netcfg.LinkStats
}

func newRateSampler(interval time.Duration, keep int) *rateSampler {
	return &rateSampler{interval: interval, keep: keep, last: map[string]counterSample{}, hist: map[string][]api.LinkRate{}}
}

func (r *rateSampler) run(ctx context.Context, log hclog.Logger) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		log.Warn("bandwidth accounting off", "error", err)
		return
	}
	defer h.Close()
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if snap, err := netcfg.Take(h); err == nil {
			r.add(time.Now(), append(snap.Links, r.classLinks()...))
		} else {
			log.Debug("counters", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// classPrefix names a traffic class's pseudo-link in the rates.
const classPrefix = "class:"

// classLinks are the traffic classes as pseudo-links for add.
func (r *rateSampler) classLinks() []netcfg.LinkInfo {
	if r.classes == nil {
		return nil
	}
	var out []netcfg.LinkInfo
	for c, k := range r.classes() {
		out = append(out, netcfg.LinkInfo{Name: classPrefix + string(c), Counters: netcfg.LinkStats{RxBytes: k.RxBytes, TxBytes: k.TxBytes}})
	}
	return out
}

// delta is b-a per second, 0 when a counter went back (a link
// recreated under the same name).
func delta(a, b uint64, secs float64) float64 {
	if b < a || secs <= 0 {
		return 0
	}
	return float64(b-a) / secs
}

// add records one sample of every link.
func (r *rateSampler) add(now time.Time, links []netcfg.LinkInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, l := range links {
		seen[l.Name] = true
		cur := counterSample{at: now, st: l.Counters}
		prev, ok := r.last[l.Name]
		r.last[l.Name] = cur
		if !ok {
			continue
		}
		secs := now.Sub(prev.at).Seconds()
		p, c := prev.st, cur.st
		rate := api.LinkRate{
			Link: l.Name, Time: now,
			RxBps: delta(p.RxBytes, c.RxBytes, secs), TxBps: delta(p.TxBytes, c.TxBytes, secs),
			RxPps: delta(p.RxPackets, c.RxPackets, secs), TxPps: delta(p.TxPackets, c.TxPackets, secs),
			Errors:  delta(p.RxErrors+p.TxErrors, c.RxErrors+c.TxErrors, secs),
			Dropped: delta(p.RxDropped+p.TxDropped, c.RxDropped+c.TxDropped, secs),
		}
		h := append(r.hist[l.Name], rate)
		if len(h) > r.keep {
			h = append(h[:0:0], h[len(h)-r.keep:]...)
		}
		r.hist[l.Name] = h
	}
	for name := range r.last {
		if !seen[name] {
			delete(r.last, name)
			delete(r.hist, name)
		}
	}
}

// latest is each link's newest rate, by link name.
func (r *rateSampler) latest() []api.LinkRate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.LinkRate{}
	for _, h := range r.hist {
		if len(h) > 0 {
			out = append(out, h[len(h)-1])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link < out[j].Link })
	return out
}

// history is every link's samples, oldest first (limit > 0: the newest
// limit).
func (r *rateSampler) history(limit int) api.NetworkHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := api.NetworkHistory{Interval: r.interval.String(), Links: map[string][]api.LinkRate{}}
	for name, h := range r.hist {
		if limit > 0 && len(h) > limit {
			h = h[len(h)-limit:]
		}
		out.Links[name] = append([]api.LinkRate(nil), h...)
	}
	return out
}

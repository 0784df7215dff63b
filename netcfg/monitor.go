package netcfg

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// LinkState is what the monitor tracks of a link.
type LinkState struct {
	Name string
	// Up is the administrative state (IFF_UP); Carrier is whether the
	// link has a carrier (operational state up).
	Up, Carrier bool
	Master      int // index of the bond it is enslaved to, 0 if none
	// ActiveSlave is, for a bond, the index of the member carrying the
	// traffic (IFLA_BOND_ACTIVE_SLAVE), 0 if none.
	ActiveSlave int
}

// LinkChange is a transition the monitor saw.
type LinkChange struct {
	Index    int
	Old, New LinkState
	// Added and Removed mark a link appearing or disappearing.
	Added, Removed bool
	// Failover marks a bond whose traffic moved from one member to
	// another (OldActive to NewActive).
	Failover bool
	// OldActive and NewActive name a bond's active member before and
	// after when it changed ("" for none).
	OldActive, NewActive string
}

// ActiveSlaveChanged reports whether a bond's active member changed,
// failovers and a bond losing or gaining its only working member alike.
func (c LinkChange) ActiveSlaveChanged() bool {
	return !c.Added && !c.Removed && c.Old.ActiveSlave != c.New.ActiveSlave
}

// Describe says in words what changed, e.g. "eth0 lost carrier".
func (c LinkChange) Describe() string {
	n := c.New.Name
	switch {
	case c.Removed:
		return c.Old.Name + " removed"
	case c.Added:
		return fmt.Sprintf("%s appeared (up %v, carrier %v)", n, c.New.Up, c.New.Carrier)
	case c.Failover:
		return fmt.Sprintf("%s failover: active slave %s -> %s", n, c.OldActive, c.NewActive)
	case c.Old.Carrier && !c.New.Carrier:
		return n + " lost carrier"
	case !c.Old.Carrier && c.New.Carrier:
		return n + " has carrier"
	case c.Old.Up && !c.New.Up:
		return n + " set down"
	case !c.Old.Up && c.New.Up:
		return n + " set up"
	case c.Old.Master != c.New.Master:
		return fmt.Sprintf("%s master changed from %d to %d", n, c.Old.Master, c.New.Master)
	case c.ActiveSlaveChanged() && c.NewActive == "":
		return fmt.Sprintf("%s has no active slave (was %s)", n, c.OldActive)
	case c.ActiveSlaveChanged():
		return fmt.Sprintf("%s active slave is %s", n, c.NewActive)
	}
	return n + " changed"
}

// linkTracker turns the kernel's stream of link messages (which repeats
// unchanged state freely) into transitions.
type linkTracker struct {
	links map[int]LinkState
}

func stateOf(l netlink.Link) LinkState {
	a := l.Attrs()
	st := LinkState{
		Name:    a.Name,
		Up:      a.Flags&net.FlagUp != 0,
		Carrier: a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && a.Flags&net.FlagRunning != 0),
		Master:  a.MasterIndex,
	}
	if b, ok := l.(*netlink.Bond); ok && b.ActiveSlave > 0 {
		st.ActiveSlave = b.ActiveSlave
	}
	return st
}

// nameOf is the name of a known link, or its index in words.
func (t *linkTracker) nameOf(index int) string {
	if index == 0 {
		return ""
	}
	if st, ok := t.links[index]; ok {
		return st.Name
	}
	return fmt.Sprintf("index %d", index)
}

// update applies one message; it returns the transition, if any.
func (t *linkTracker) update(index int, st LinkState, deleted bool) (LinkChange, bool) {
	old, known := t.links[index]
	switch {
	case deleted:
		if !known {
			return LinkChange{}, false
		}
		delete(t.links, index)
		return LinkChange{Index: index, Old: old, New: old, Removed: true}, true
	case !known:
		t.links[index] = st
		return LinkChange{Index: index, New: st, Added: true}, true
	case old == st:
		return LinkChange{}, false
	}
	t.links[index] = st
	c := LinkChange{Index: index, Old: old, New: st}
	if old.ActiveSlave != st.ActiveSlave {
		c.OldActive, c.NewActive = t.nameOf(old.ActiveSlave), t.nameOf(st.ActiveSlave)
		c.Failover = old.ActiveSlave != 0 && st.ActiveSlave != 0
	}
	return c, true
}

// MonitorLinks reports link transitions until ctx is done. Links present
// at the start are reported once as Added, so the caller knows the
// starting state. A bond's active member moving (IFLA_BOND_ACTIVE_SLAVE
// in the bond's link message) is reported with Failover set. The
// kernel's notifications arrive within milliseconds; nothing here polls.
func MonitorLinks(ctx context.Context, onChange func(LinkChange), onError func(error)) error {
	return monitorLinks(ctx, nil, onChange, onError)
}

// monitorLinks is MonitorLinks in the network namespace ns (nil: the
// caller's).
func monitorLinks(ctx context.Context, ns *netns.NsHandle, onChange func(LinkChange), onError func(error)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	// Closing the subscription at the end makes netlink report a
	// receive error (EAGAIN); only errors while monitoring are news.
	report := func(err error) {
		if ctx.Err() == nil && onError != nil {
			onError(err)
		}
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: ns, ListExisting: true, ErrorCallback: report}); err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	t := &linkTracker{links: map[int]LinkState{}}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("link subscription ended")
			}
			if c, changed := t.update(int(u.Index), stateOf(u.Link), u.Header.Type == 17 /* RTM_DELLINK */); changed {
				onChange(c)
			}
		}
	}
}

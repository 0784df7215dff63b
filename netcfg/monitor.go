package netcfg

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// LinkState is what the monitor tracks of a link.
type LinkState struct {
	Name string
	// Up is the administrative state (IFF_UP); Carrier is whether the
	// link has a carrier (operational state up).
	Up, Carrier bool
	Master      int // index of the bond it is enslaved to, 0 if none
}

// LinkChange is a transition the monitor saw.
type LinkChange struct {
	Index    int
	Old, New LinkState
	// Added and Removed mark a link appearing or disappearing.
	Added, Removed bool
}

// Describe says in words what changed, e.g. "eth0 lost carrier".
func (c LinkChange) Describe() string {
	n := c.New.Name
	switch {
	case c.Removed:
		return c.Old.Name + " removed"
	case c.Added:
		return fmt.Sprintf("%s appeared (up %v, carrier %v)", n, c.New.Up, c.New.Carrier)
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
	return LinkState{
		Name:    a.Name,
		Up:      a.Flags&net.FlagUp != 0,
		Carrier: a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && a.Flags&net.FlagRunning != 0),
		Master:  a.MasterIndex,
	}
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
	return LinkChange{Index: index, Old: old, New: st}, true
}

// MonitorLinks reports link transitions until ctx is done. Links present
// at the start are reported once as Added, so the caller knows the
// starting state. The kernel's notifications arrive within milliseconds;
// nothing here polls.
func MonitorLinks(ctx context.Context, onChange func(LinkChange), onError func(error)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: onError}); err != nil {
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

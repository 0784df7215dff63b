package xfrm

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Why not netlink.XfrmMonitor: in v1.3.1 it knows only EXPIRE (asking for
// MAPPING returns nil without subscribing), it has no namespace parameter,
// and its reader blocks forever on a channel send once the consumer stops.
// A raw NETLINK_XFRM subscription to the EXPIRE and MAPPING groups, parsed
// here, has none of these problems.

// eventBuffer is the channel capacity; the kernel's socket buffer holds
// the rest, and an overrun surfaces as EventLost (ENOBUFS).
const eventBuffer = 64

func subscribe(ctx context.Context, ns netns.NsHandle) (<-chan Event, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	s, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_XFRM, nl.XFRMNLGRP_EXPIRE, nl.XFRMNLGRP_MAPPING)
	if err != nil {
		return nil, fmt.Errorf("xfrm: subscribe to expire/mapping events: %w", mapErrno(err))
	}
	ch := make(chan Event, eventBuffer)
	stop := context.AfterFunc(ctx, s.Close)
	go func() {
		defer close(ch)
		defer stop()
		defer s.Close()
		for {
			msgs, from, err := s.Receive()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if err == unix.EAGAIN || err == unix.EINTR {
					continue
				}
				send(ctx, ch, Event{Kind: EventLost, Err: fmt.Errorf("xfrm: event subscription: %w", err)})
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				ev, ok := parseEvent(m)
				if !ok {
					continue
				}
				if !send(ctx, ch, ev) {
					return
				}
			}
		}
	}()
	return ch, nil
}

func send(ctx context.Context, ch chan<- Event, ev Event) bool {
	select {
	case ch <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// Layouts from <linux/xfrm.h>.
const (
	sizeofUsersaID   = 24  // daddr[16] spi(be32) family(u16) proto(u8) pad
	sizeofMapping    = 64  // usersa_id reqid old_saddr[16] new_saddr[16] old_sport(be16) new_sport(be16)
	sizeofUserExpire = 232 // xfrm_usersa_info + hard(u8) + pad
)

func xaddr(b []byte, family uint16) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

// parseEvent decodes an XFRM_MSG_EXPIRE or XFRM_MSG_MAPPING message.
func parseEvent(m syscall.NetlinkMessage) (Event, bool) {
	switch m.Header.Type {
	case nl.XFRM_MSG_EXPIRE:
		if len(m.Data) < sizeofUserExpire {
			return Event{}, false
		}
		exp := nl.DeserializeXfrmUserExpire(m.Data)
		info := &exp.XfrmUsersaInfo
		ev := Event{Kind: EventSoftExpire, Reqid: info.Reqid}
		if exp.Hard != 0 {
			ev.Kind = EventHardExpire
		}
		ev.SA = SAID{
			Src: xaddr(info.Saddr[:], info.Family),
			Dst: xaddr(info.Id.Daddr[:], info.Family),
			SPI: nl.Swap32(info.Id.Spi),
		}
		if info.Id.Proto != uint8(ProtoESP) {
			return Event{}, false
		}
		return ev, true
	case nl.XFRM_MSG_MAPPING:
		b := m.Data
		if len(b) < sizeofMapping {
			return Event{}, false
		}
		family := nl.NativeEndian().Uint16(b[20:22])
		if b[22] != uint8(ProtoESP) {
			return Event{}, false
		}
		ev := Event{
			Kind:  EventMapping,
			SA:    SAID{Dst: xaddr(b[0:16], family), SPI: binary.BigEndian.Uint32(b[16:20])},
			Reqid: nl.NativeEndian().Uint32(b[24:28]),
		}
		ev.OldAddr = netip.AddrPortFrom(xaddr(b[28:44], family), binary.BigEndian.Uint16(b[60:62]))
		ev.NewAddr = netip.AddrPortFrom(xaddr(b[44:60], family), binary.BigEndian.Uint16(b[62:64]))
		return ev, true
	}
	return Event{}, false
}

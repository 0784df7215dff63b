package noc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WANCapture classifies the frames of a capture on a tunnel's outer link.
type WANCapture struct {
	Frames int
	IKE    int // UDP port 500 (either side)
	// UDP port 4500: IKE behind the non-ESP marker (strongSwan moves IKE
	// there after IKE_SA_INIT when MOBIKE is on, NAT or not), ESP-in-UDP,
	// and NAT-T keepalives (0xff).
	NATTIKE, NATTESP, Keepalive int
	ESP                         int // IP protocol 50 (raw ESP)
	ARP                         int
	// Other describes every other frame (plaintext leaks, IPv6 noise …).
	Other []string
}

// OnlyIPsec reports whether every IP packet was IKE, NAT-T or ESP (ARP is
// allowed: it carries no payload).
func (c WANCapture) OnlyIPsec() bool { return len(c.Other) == 0 }

// ClassifyPcap reads a classic little- or big-endian pcap file of Ethernet
// frames (tcpdump -w, QEMU filter-dump) and classifies each frame after the
// first skip ones (e.g. those recorded before the test's IPsec phase began;
// see PcapFrames).
func ClassifyPcap(data []byte, skip int) (WANCapture, error) {
	var c WANCapture
	if len(data) < 24 {
		return c, errors.New("pcap: short file")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return c, fmt.Errorf("pcap: bad magic %x", data[:4])
	}
	if lt := bo.Uint32(data[20:]); lt != 1 {
		return c, fmt.Errorf("pcap: link type %d, want Ethernet (1)", lt)
	}
	off := 24
	for off+16 <= len(data) {
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(data) {
			return c, fmt.Errorf("pcap: truncated record at %d", off)
		}
		if skip > 0 {
			skip--
		} else {
			c.classify(data[off : off+incl])
		}
		off += incl
	}
	return c, nil
}

func (c *WANCapture) classify(f []byte) {
	c.Frames++
	n := c.Frames
	if len(f) < 14 {
		c.Other = append(c.Other, fmt.Sprintf("frame %d: runt", n))
		return
	}
	et := binary.BigEndian.Uint16(f[12:])
	p := f[14:]
	if et == 0x8100 && len(f) >= 18 { // VLAN tag
		et = binary.BigEndian.Uint16(f[16:])
		p = f[18:]
	}
	switch et {
	case 0x0806:
		c.ARP++
		return
	case 0x0800:
	default:
		c.Other = append(c.Other, fmt.Sprintf("frame %d: ethertype %#04x", n, et))
		return
	}
	if len(p) < 20 || p[0]>>4 != 4 {
		c.Other = append(c.Other, fmt.Sprintf("frame %d: bad IPv4 header", n))
		return
	}
	ihl := int(p[0]&0x0f) * 4
	proto := p[9]
	src, dst := fmt.Sprintf("%d.%d.%d.%d", p[12], p[13], p[14], p[15]), fmt.Sprintf("%d.%d.%d.%d", p[16], p[17], p[18], p[19])
	switch proto {
	case 50:
		c.ESP++
		return
	case 17:
		if len(p) >= ihl+4 {
			sp, dp := binary.BigEndian.Uint16(p[ihl:]), binary.BigEndian.Uint16(p[ihl+2:])
			switch {
			case sp == 500 || dp == 500:
				c.IKE++
				return
			case sp == 4500 || dp == 4500:
				pl := p[min(ihl+8, len(p)):]
				switch {
				case len(pl) == 1 && pl[0] == 0xff:
					c.Keepalive++
				case len(pl) >= 4 && pl[0]|pl[1]|pl[2]|pl[3] == 0:
					c.NATTIKE++
				default:
					c.NATTESP++
				}
				return
			}
			c.Other = append(c.Other, fmt.Sprintf("frame %d: UDP %s:%d > %s:%d", n, src, sp, dst, dp))
			return
		}
	}
	if proto == 1 && len(p) >= ihl+8 {
		// ICMP: its type and code, and for an error the datagram it
		// quotes (what it answers), so a leak report says what leaked.
		icmp := p[ihl:]
		desc := fmt.Sprintf("frame %d: ICMP type %d code %d %s > %s", n, icmp[0], icmp[1], src, dst)
		if q := icmp[8:]; (icmp[0] == 3 || icmp[0] == 11) && len(q) >= 20 && q[0]>>4 == 4 {
			qihl := int(q[0]&0x0f) * 4
			desc += fmt.Sprintf(" quoting proto %d %d.%d.%d.%d > %d.%d.%d.%d", q[9], q[12], q[13], q[14], q[15], q[16], q[17], q[18], q[19])
			if (q[9] == 17 || q[9] == 6) && len(q) >= qihl+4 {
				desc += fmt.Sprintf(" ports %d > %d", binary.BigEndian.Uint16(q[qihl:]), binary.BigEndian.Uint16(q[qihl+2:]))
			}
		}
		c.Other = append(c.Other, desc)
		return
	}
	c.Other = append(c.Other, fmt.Sprintf("frame %d: IP proto %d %s > %s", n, proto, src, dst))
}

// PcapFrames counts the complete frames in a pcap file.
func PcapFrames(data []byte) (int, error) {
	c, err := ClassifyPcap(data, 0)
	return c.Frames, err
}

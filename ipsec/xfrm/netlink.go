package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options configure a Netlink adapter.
type Options struct {
	// NetNS is the network namespace to work in; the zero value or
	// netns.None() means the caller's current namespace. The adapter
	// duplicates the handle; the caller keeps ownership of its own.
	NetNS netns.NsHandle
	// Owner is the ownership rule (DefaultOwner() when zero).
	Owner Owner
	// Log receives one debug line per change (never keys); nil for none.
	Log hclog.Logger
}

// Netlink is the Kernel on Linux's XFRM netlink interface.
type Netlink struct {
	h     *netlink.Handle
	ns    netns.NsHandle // -1 when working in the current namespace
	owner Owner
	log   hclog.Logger
	mu    sync.Mutex // serialises Flush against itself
}

var _ Kernel = (*Netlink)(nil)

// Open returns an adapter bound to opts.NetNS. Close it when done.
func Open(opts Options) (*Netlink, error) {
	n := &Netlink{ns: netns.None(), owner: opts.Owner, log: opts.Log}
	if n.owner.ReqidMax == 0 && len(n.owner.IfIDs) == 0 {
		n.owner = DefaultOwner()
	}
	if n.log == nil {
		n.log = hclog.NewNullLogger()
	}
	var err error
	if opts.NetNS.IsOpen() && opts.NetNS != 0 { // fd 0 is stdin, never a netns handle
		fd, derr := unix.FcntlInt(uintptr(opts.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		if derr != nil {
			return nil, fmt.Errorf("xfrm: duplicate netns handle: %w", derr)
		}
		n.ns = netns.NsHandle(fd)
		n.h, err = netlink.NewHandleAt(n.ns, unix.NETLINK_XFRM, unix.NETLINK_ROUTE)
	} else {
		n.h, err = netlink.NewHandle(unix.NETLINK_XFRM, unix.NETLINK_ROUTE)
	}
	if err != nil {
		if n.ns.IsOpen() {
			n.ns.Close()
		}
		return nil, fmt.Errorf("xfrm: open netlink: %w", mapErrno(err))
	}
	return n, nil
}

// Close releases the netlink sockets. Installed state stays.
func (n *Netlink) Close() error {
	n.h.Close()
	if n.ns.IsOpen() {
		return n.ns.Close()
	}
	return nil
}

// Owner returns the ownership rule in force.
func (n *Netlink) Owner() Owner { return n.owner }

// inNS runs f on a thread in the adapter's namespace (for the few calls
// netlink v1.3.1 has no Handle method for, and for sysctl-like work).
func (n *Netlink) inNS(f func() error) error {
	if !n.ns.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.ns); err != nil {
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace; keep it locked so the
		// runtime discards it instead of reusing it.
		runtime.LockOSThread()
		return errors.Join(ferr, fmt.Errorf("xfrm: restore netns: %w", err))
	}
	return ferr
}

func ipOf(a netip.Addr) net.IP { return net.IP(a.Unmap().AsSlice()) }

func addrOf(ip net.IP) netip.Addr {
	if v4 := ip.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4))
	}
	a, _ := netip.AddrFromSlice(ip)
	return a
}

func netOf(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	return &net.IPNet{IP: ipOf(p.Addr()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addrOf(n.IP), ones)
}

// mapErrno wraps kernel errnos in the package's errors.
func mapErrno(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w (%w)", ErrExists, err)
	case errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	}
	return err
}

func mapSAErrno(err error) error {
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPROTONOSUPPORT) {
		return fmt.Errorf("%w (%w)", ErrNoESP, err)
	}
	if errors.Is(err, unix.ENOENT) {
		// Adding or updating an SA answers ENOENT when the kernel cannot
		// instantiate its crypto ("Kernel was unable to initialize
		// cryptographic operations"), e.g. drbg without sha512_generic;
		// a missing SA to update is ESRCH.
		return fmt.Errorf("%w: the kernel could not set up the SA's crypto, a crypto module is missing (gcm, ghash, seqiv, and sha512_generic for drbg) (%w)", ErrNoESP, err)
	}
	return mapErrno(err)
}

func checkCtx(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// AllocSPI implements Kernel.
func (n *Netlink) AllocSPI(ctx context.Context, src, dst netip.Addr, proto Proto, reqid uint32) (uint32, error) {
	if err := checkCtx(ctx); err != nil {
		return 0, err
	}
	if proto != ProtoESP {
		return 0, fmt.Errorf("%w: allocspi: protocol %s, only esp", ErrInvalid, proto)
	}
	if !src.IsValid() || !dst.IsValid() || src.Unmap().Is4() != dst.Unmap().Is4() {
		return 0, fmt.Errorf("%w: allocspi %s->%s: addresses must be valid and of one family", ErrInvalid, src, dst)
	}
	if !n.owner.reqid(reqid) {
		return 0, fmt.Errorf("%w: allocspi reqid %d", ErrNotOwned, reqid)
	}
	st := &netlink.XfrmState{Src: ipOf(src), Dst: ipOf(dst), Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Reqid: int(reqid)}
	var got *netlink.XfrmState
	// netlink v1.3.1 has XfrmStateAllocSpi only on its package handle, which
	// works in the calling thread's namespace.
	err := n.inNS(func() error {
		var err error
		got, err = netlink.XfrmStateAllocSpi(st)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("xfrm: allocspi %s->%s reqid %d: %w", src, dst, reqid, mapErrno(err))
	}
	spi := uint32(got.Spi)
	n.log.Debug("allocated SPI", "spi", fmt.Sprintf("0x%08x", spi), "src", src, "dst", dst, "reqid", reqid)
	return spi, nil
}

func (n *Netlink) state(sa SA) *netlink.XfrmState {
	st := &netlink.XfrmState{
		Src:          ipOf(sa.Src),
		Dst:          ipOf(sa.Dst),
		Proto:        netlink.XFRM_PROTO_ESP,
		Mode:         netlink.XFRM_MODE_TUNNEL,
		Spi:          int(sa.SPI),
		Reqid:        int(sa.Reqid),
		ReplayWindow: int(sa.ReplayWindow),
		ESN:          sa.ESN,
		Ifid:         int(sa.IfID),
		Aead:         &netlink.XfrmStateAlgo{Name: AEADName, Key: sa.Key, ICVLen: sa.ICVBits},
		Limits: netlink.XfrmStateLimits{
			ByteSoft: sa.Lifetime.SoftBytes, ByteHard: sa.Lifetime.HardBytes,
			PacketSoft: sa.Lifetime.SoftPackets, PacketHard: sa.Lifetime.HardPackets,
			TimeSoft: sa.Lifetime.SoftSeconds, TimeHard: sa.Lifetime.HardSeconds,
		},
	}
	if sa.Encap != nil {
		st.Encap = &netlink.XfrmStateEncap{Type: netlink.XFRM_ENCAP_ESPINUDP, SrcPort: int(sa.Encap.SrcPort), DstPort: int(sa.Encap.DstPort)}
		if sa.Encap.OriginalAddress.IsValid() {
			st.Encap.OriginalAddress = ipOf(sa.Encap.OriginalAddress)
		}
	}
	if !sa.Selector.isZero() {
		st.Selector = selectorPolicy(sa.Selector)
	}
	return st
}

func selectorPolicy(s Selector) *netlink.XfrmPolicy {
	return &netlink.XfrmPolicy{Src: netOf(s.Src), Dst: netOf(s.Dst), Proto: netlink.Proto(s.Proto), SrcPort: int(s.SrcPort), DstPort: int(s.DstPort)}
}

func (n *Netlink) checkSA(sa SA) (SA, error) {
	sa, err := sa.normalise()
	if err != nil {
		return sa, err
	}
	if !n.owner.OwnsSA(sa.Reqid, sa.IfID) {
		return sa, fmt.Errorf("%w: SA %s", ErrNotOwned, sa)
	}
	return sa, nil
}

// AddSA implements Kernel.
func (n *Netlink) AddSA(ctx context.Context, sa SA) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	sa, err := n.checkSA(sa)
	if err != nil {
		return err
	}
	if err := n.h.XfrmStateAdd(n.state(sa)); err != nil {
		return fmt.Errorf("xfrm: add SA %s: %w", sa, mapSAErrno(err))
	}
	n.log.Debug("added SA", "sa", sa.String())
	return nil
}

// UpdateSA implements Kernel.
func (n *Netlink) UpdateSA(ctx context.Context, sa SA) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	sa, err := n.checkSA(sa)
	if err != nil {
		return err
	}
	if err := n.h.XfrmStateUpdate(n.state(sa)); err != nil {
		return fmt.Errorf("xfrm: update SA %s: %w", sa, mapSAErrno(err))
	}
	n.log.Debug("updated SA", "sa", sa.String())
	return nil
}

func idState(id SAID) *netlink.XfrmState {
	st := &netlink.XfrmState{Dst: ipOf(id.Dst), Proto: netlink.XFRM_PROTO_ESP, Spi: int(id.SPI)}
	if id.Src.IsValid() {
		st.Src = ipOf(id.Src)
	}
	return st
}

func checkID(id SAID) error {
	if !id.Dst.IsValid() || id.SPI == 0 {
		return fmt.Errorf("%w: SA %s: needs dst and SPI", ErrInvalid, id)
	}
	return nil
}

// DeleteSA implements Kernel.
func (n *Netlink) DeleteSA(ctx context.Context, id SAID) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if err := n.h.XfrmStateDel(idState(id)); err != nil {
		return fmt.Errorf("xfrm: delete SA %s: %w", id, mapErrno(err))
	}
	n.log.Debug("deleted SA", "sa", id.String())
	return nil
}

func unixTime(s uint64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}

// SAStats implements Kernel.
func (n *Netlink) SAStats(ctx context.Context, id SAID) (Stats, error) {
	if err := checkCtx(ctx); err != nil {
		return Stats{}, err
	}
	if err := checkID(id); err != nil {
		return Stats{}, err
	}
	st, err := n.h.XfrmStateGet(idState(id))
	if err != nil {
		return Stats{}, fmt.Errorf("xfrm: get SA %s: %w", id, mapErrno(err))
	}
	s := st.Statistics
	return Stats{
		Bytes: s.Bytes, Packets: s.Packets,
		Added: unixTime(s.AddTime), LastUsed: unixTime(s.UseTime),
		ReplayDrops: s.Replay, IntegrityFailures: s.Failed,
	}, nil
}

// SAs implements Kernel.
func (n *Netlink) SAs(ctx context.Context) ([]SAID, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	sts, err := n.listStates()
	if err != nil {
		return nil, err
	}
	var out []SAID
	for _, st := range sts {
		if st.Proto == netlink.XFRM_PROTO_ESP && n.owner.OwnsSA(uint32(st.Reqid), uint32(st.Ifid)) {
			out = append(out, SAID{Src: addrOf(st.Src), Dst: addrOf(st.Dst), SPI: uint32(st.Spi)})
		}
	}
	return out, nil
}

// dumpRetries bounds the retries of a dump interrupted by concurrent changes.
const dumpRetries = 5

func (n *Netlink) listStates() ([]netlink.XfrmState, error) {
	for i := 0; ; i++ {
		sts, err := n.h.XfrmStateList(netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xfrm: list SAs: %w", mapErrno(err))
		}
		return sts, nil
	}
}

func (n *Netlink) listPolicies() ([]netlink.XfrmPolicy, error) {
	for i := 0; ; i++ {
		ps, err := n.h.XfrmPolicyList(netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xfrm: list policies: %w", mapErrno(err))
		}
		return ps, nil
	}
}

func (n *Netlink) checkPolicy(p Policy) error {
	if err := p.check(); err != nil {
		return err
	}
	if !n.owner.OwnsPolicy(p) {
		return fmt.Errorf("%w: %s", ErrNotOwned, p)
	}
	return nil
}

func nlPolicy(p Policy) *netlink.XfrmPolicy {
	np := selectorPolicy(p.Selector)
	np.Dir = netlink.Dir(p.Dir)
	np.Priority = int(p.Priority)
	np.Ifid = int(p.IfID)
	np.Action = netlink.XFRM_POLICY_ALLOW
	if p.Action == ActionBlock {
		np.Action = netlink.XFRM_POLICY_BLOCK
	}
	for _, t := range p.Templates {
		np.Tmpls = append(np.Tmpls, netlink.XfrmPolicyTmpl{Src: ipOf(t.Src), Dst: ipOf(t.Dst), Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Reqid: int(t.Reqid)})
	}
	return np
}

func fromNLPolicy(np netlink.XfrmPolicy) Policy {
	sel := Selector{Src: prefixOf(np.Src), Dst: prefixOf(np.Dst), Proto: uint8(np.Proto), SrcPort: uint16(np.SrcPort), DstPort: uint16(np.DstPort)}
	// netlink v1.3.1 parses an all-zero address of a FAMILY_ALL dump as
	// 0.0.0.0/0 even in an IPv6 selector; the other side tells the family.
	any6 := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if sel.Src.Bits() == 0 && sel.Src.Addr().IsUnspecified() && sel.Dst.Addr().Is6() {
		sel.Src = any6
	}
	if sel.Dst.Bits() == 0 && sel.Dst.Addr().IsUnspecified() && sel.Src.Addr().Is6() {
		sel.Dst = any6
	}
	p := Policy{
		Selector: sel,
		Dir:      Dir(np.Dir),
		Priority: uint32(np.Priority),
		IfID:     uint32(np.Ifid),
	}
	if np.Action == netlink.XFRM_POLICY_BLOCK {
		p.Action = ActionBlock
	}
	for _, t := range np.Tmpls {
		p.Templates = append(p.Templates, Template{Src: addrOf(t.Src), Dst: addrOf(t.Dst), Reqid: uint32(t.Reqid)})
	}
	return p
}

// AddPolicy implements Kernel.
func (n *Netlink) AddPolicy(ctx context.Context, p Policy) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := n.checkPolicy(p); err != nil {
		return err
	}
	if err := n.h.XfrmPolicyAdd(nlPolicy(p)); err != nil {
		return fmt.Errorf("xfrm: add %s: %w", p, mapErrno(err))
	}
	n.log.Debug("added policy", "policy", p.String())
	return nil
}

// DeletePolicy implements Kernel.
func (n *Netlink) DeletePolicy(ctx context.Context, id PolicyID) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := (Policy{Selector: id.Selector, Dir: id.Dir}).check(); err != nil {
		return err
	}
	if err := n.h.XfrmPolicyDel(nlPolicy(Policy{Selector: id.Selector, Dir: id.Dir, IfID: id.IfID})); err != nil {
		return fmt.Errorf("xfrm: delete policy %s: %w", id, mapErrno(err))
	}
	n.log.Debug("deleted policy", "policy", id.String())
	return nil
}

// Policies implements Kernel.
func (n *Netlink) Policies(ctx context.Context) ([]Policy, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	nps, err := n.listPolicies()
	if err != nil {
		return nil, err
	}
	var out []Policy
	for _, np := range nps {
		if np.Dir > netlink.XFRM_DIR_FWD {
			continue // socket policies
		}
		if p := fromNLPolicy(np); n.owner.OwnsPolicy(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Flush implements Kernel.
func (n *Netlink) Flush(ctx context.Context) (int, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	nsa, npol := 0, 0
	ids, err := n.SAs(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		if err := n.DeleteSA(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		nsa++
	}
	ps, err := n.Policies(ctx)
	if err != nil {
		return nsa, 0, errors.Join(append(errs, err)...)
	}
	for _, p := range ps {
		if err := n.DeletePolicy(ctx, p.ID()); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		npol++
	}
	n.log.Debug("flushed Keep's XFRM state", "sas", nsa, "policies", npol)
	return nsa, npol, errors.Join(errs...)
}

// CreateInterface implements Kernel.
func (n *Netlink) CreateInterface(ctx context.Context, ifc Interface) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if ifc.Name == "" || len(ifc.Name) >= unix.IFNAMSIZ || ifc.IfID == 0 {
		return fmt.Errorf("%w: xfrm interface %q if_id %d", ErrInvalid, ifc.Name, ifc.IfID)
	}
	if !n.owner.ifid(ifc.IfID) {
		return fmt.Errorf("%w: xfrm interface %q if_id %d", ErrNotOwned, ifc.Name, ifc.IfID)
	}
	link := &netlink.Xfrmi{LinkAttrs: netlink.LinkAttrs{Name: ifc.Name}, Ifid: ifc.IfID}
	if ifc.Parent != "" {
		parent, err := n.h.LinkByName(ifc.Parent)
		if err != nil {
			return fmt.Errorf("xfrm: xfrm interface %q: parent %q: %w", ifc.Name, ifc.Parent, mapLinkErr(err))
		}
		link.ParentIndex = parent.Attrs().Index
	}
	if err := n.h.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("xfrm: create xfrm interface %q: %w (%w)", ifc.Name, ErrNoInterface, err)
		}
		return fmt.Errorf("xfrm: create xfrm interface %q: %w", ifc.Name, mapErrno(err))
	}
	if err := n.h.LinkSetUp(link); err != nil {
		derr := n.h.LinkDel(link)
		return errors.Join(fmt.Errorf("xfrm: set xfrm interface %q up: %w", ifc.Name, mapErrno(err)), derr)
	}
	n.log.Debug("created xfrm interface", "name", ifc.Name, "if_id", ifc.IfID)
	return nil
}

func mapLinkErr(err error) error {
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return mapErrno(err)
}

// DeleteInterface implements Kernel.
func (n *Netlink) DeleteInterface(ctx context.Context, name string) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	link, err := n.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("xfrm: delete xfrm interface %q: %w", name, mapLinkErr(err))
	}
	if link.Type() != "xfrm" {
		return fmt.Errorf("%w: %q is a %s link, not an xfrm interface", ErrInvalid, name, link.Type())
	}
	if err := n.h.LinkDel(link); err != nil {
		return fmt.Errorf("xfrm: delete xfrm interface %q: %w", name, mapErrno(err))
	}
	n.log.Debug("deleted xfrm interface", "name", name)
	return nil
}

// BypassSocket implements Kernel.
func (n *Netlink) BypassSocket(c syscall.Conn) error { return BypassSocket(c) }

// EnableUDPEncap implements Kernel.
func (n *Netlink) EnableUDPEncap(c syscall.Conn) error { return EnableUDPEncap(c) }

// Events implements Kernel.
func (n *Netlink) Events(ctx context.Context) (<-chan Event, error) {
	return subscribe(ctx, n.ns)
}

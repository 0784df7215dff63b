package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Op names a Kernel method, for error injection and the call log.
type Op string

// The operations of Kernel.
const (
	OpAllocSPI        Op = "AllocSPI"
	OpAddSA           Op = "AddSA"
	OpUpdateSA        Op = "UpdateSA"
	OpDeleteSA        Op = "DeleteSA"
	OpSAStats         Op = "SAStats"
	OpSAs             Op = "SAs"
	OpAddPolicy       Op = "AddPolicy"
	OpDeletePolicy    Op = "DeletePolicy"
	OpPolicies        Op = "Policies"
	OpCreateInterface Op = "CreateInterface"
	OpDeleteInterface Op = "DeleteInterface"
	OpBypassSocket    Op = "BypassSocket"
	OpEnableUDPEncap  Op = "EnableUDPEncap"
	OpEvents          Op = "Events"
	OpFlush           Op = "Flush"
)

// Call is one recorded call to the Fake: the operation, a key-free
// description of its argument, and the error it returned.
type Call struct {
	Op     Op
	Detail string
	Err    error
}

// FakeSA is an SA as the Fake holds it.
type FakeSA struct {
	SA     SA // for a larval SA only Src, Dst, SPI and Reqid are set
	Larval bool
	Stats  Stats
}

// Fake is an in-memory Kernel for the IKE state machine's tests. It
// enforces the kernel's invariants (unique SPIs per destination, unique
// policy IDs, ErrNotFound on deleting what is not there, larval SAs from
// AllocSPI that UpdateSA completes and AddSA collides with) and the same
// validation and ownership rule as Netlink, so a test that passes on the
// Fake does not send the kernel anything it would refuse for those reasons.
// Use FailNext/Fail to inject errors, Expire/Mapping/Emit to raise events.
type Fake struct {
	// NoESP makes AddSA and UpdateSA fail with ErrNoESP, like the host
	// kernel without esp4/AEAD; NoInterface does the same for
	// CreateInterface with ErrNoInterface.
	NoESP, NoInterface bool
	// Now is the clock for Stats.Added (time.Now when nil).
	Now func() time.Time

	mu       sync.Mutex
	owner    Owner
	sas      map[saKey]*FakeSA
	policies map[PolicyID]Policy
	ifaces   map[string]Interface
	bypassed int
	encap    int
	nextSPI  uint32
	calls    []Call
	failNext map[Op][]error
	fail     map[Op]error
	subs     []*fakeSub
}

type saKey struct {
	dst netip.Addr
	spi uint32
}

type fakeSub struct {
	ctx context.Context
	ch  chan Event
	bad bool
}

var _ Kernel = (*Fake)(nil)

// NewFake returns an empty Fake with the given ownership rule
// (DefaultOwner() when zero).
func NewFake(owner Owner) *Fake {
	if owner.ReqidMax == 0 && len(owner.IfIDs) == 0 {
		owner = DefaultOwner()
	}
	return &Fake{
		owner:    owner,
		sas:      map[saKey]*FakeSA{},
		policies: map[PolicyID]Policy{},
		ifaces:   map[string]Interface{},
		nextSPI:  0xc0000001,
		failNext: map[Op][]error{},
		fail:     map[Op]error{},
	}
}

// FailNext makes the next call of op return err (calls queue up).
func (f *Fake) FailNext(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[op] = append(f.failNext[op], err)
}

// Fail makes every call of op return err until Fail(op, nil).
func (f *Fake) Fail(op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, op)
		return
	}
	f.fail[op] = err
}

// begin takes the lock and returns an injected error, if any. The caller
// must call f.end.
func (f *Fake) begin(ctx context.Context, op Op) error {
	f.mu.Lock()
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if q := f.failNext[op]; len(q) > 0 {
		f.failNext[op] = q[1:]
		return q[0]
	}
	return f.fail[op]
}

func (f *Fake) end(op Op, detail string, err error) error {
	f.calls = append(f.calls, Call{Op: op, Detail: detail, Err: err})
	f.mu.Unlock()
	return err
}

// Calls returns the call log.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// AllocSPI implements Kernel.
func (f *Fake) AllocSPI(ctx context.Context, src, dst netip.Addr, proto Proto, reqid uint32) (uint32, error) {
	detail := fmt.Sprintf("%s->%s reqid %d", src, dst, reqid)
	if err := f.begin(ctx, OpAllocSPI); err != nil {
		return 0, f.end(OpAllocSPI, detail, err)
	}
	switch {
	case proto != ProtoESP:
		return 0, f.end(OpAllocSPI, detail, fmt.Errorf("%w: allocspi: protocol %s, only esp", ErrInvalid, proto))
	case !src.IsValid() || !dst.IsValid() || src.Unmap().Is4() != dst.Unmap().Is4():
		return 0, f.end(OpAllocSPI, detail, fmt.Errorf("%w: allocspi %s: addresses", ErrInvalid, detail))
	case !f.owner.reqid(reqid):
		return 0, f.end(OpAllocSPI, detail, fmt.Errorf("%w: allocspi reqid %d", ErrNotOwned, reqid))
	}
	dst = dst.Unmap()
	for f.sas[saKey{dst, f.nextSPI}] != nil || f.nextSPI < 0x100 {
		f.nextSPI++
	}
	spi := f.nextSPI
	f.nextSPI++
	f.sas[saKey{dst, spi}] = &FakeSA{SA: SA{Src: src.Unmap(), Dst: dst, SPI: spi, Reqid: reqid}, Larval: true, Stats: Stats{Added: f.now()}}
	return spi, f.end(OpAllocSPI, fmt.Sprintf("%s spi 0x%08x", detail, spi), nil)
}

func (f *Fake) checkSA(sa SA) (SA, error) {
	sa, err := sa.normalise()
	if err != nil {
		return sa, err
	}
	if !f.owner.OwnsSA(sa.Reqid, sa.IfID) {
		return sa, fmt.Errorf("%w: SA %s", ErrNotOwned, sa)
	}
	if f.NoESP {
		return sa, fmt.Errorf("xfrm: add SA %s: %w (fake)", sa, ErrNoESP)
	}
	return sa, nil
}

// AddSA implements Kernel.
func (f *Fake) AddSA(ctx context.Context, sa SA) error {
	if err := f.begin(ctx, OpAddSA); err != nil {
		return f.end(OpAddSA, sa.String(), err)
	}
	sa, err := f.checkSA(sa)
	if err != nil {
		return f.end(OpAddSA, sa.String(), err)
	}
	k := saKey{sa.Dst, sa.SPI}
	if f.sas[k] != nil {
		return f.end(OpAddSA, sa.String(), fmt.Errorf("xfrm: add SA %s: %w", sa, ErrExists))
	}
	f.sas[k] = &FakeSA{SA: sa, Stats: Stats{Added: f.now()}}
	return f.end(OpAddSA, sa.String(), nil)
}

// UpdateSA implements Kernel.
func (f *Fake) UpdateSA(ctx context.Context, sa SA) error {
	if err := f.begin(ctx, OpUpdateSA); err != nil {
		return f.end(OpUpdateSA, sa.String(), err)
	}
	sa, err := f.checkSA(sa)
	if err != nil {
		return f.end(OpUpdateSA, sa.String(), err)
	}
	k := saKey{sa.Dst, sa.SPI}
	old := f.sas[k]
	if old == nil || old.SA.Src != sa.Src {
		return f.end(OpUpdateSA, sa.String(), fmt.Errorf("xfrm: update SA %s: %w", sa, ErrNotFound))
	}
	f.sas[k] = &FakeSA{SA: sa, Stats: old.Stats}
	return f.end(OpUpdateSA, sa.String(), nil)
}

func (f *Fake) lookup(id SAID) *FakeSA {
	s := f.sas[saKey{id.Dst.Unmap(), id.SPI}]
	if s == nil || (id.Src.IsValid() && s.SA.Src != id.Src.Unmap()) {
		return nil
	}
	return s
}

// DeleteSA implements Kernel.
func (f *Fake) DeleteSA(ctx context.Context, id SAID) error {
	if err := f.begin(ctx, OpDeleteSA); err != nil {
		return f.end(OpDeleteSA, id.String(), err)
	}
	if err := checkID(id); err != nil {
		return f.end(OpDeleteSA, id.String(), err)
	}
	if f.lookup(id) == nil {
		return f.end(OpDeleteSA, id.String(), fmt.Errorf("xfrm: delete SA %s: %w", id, ErrNotFound))
	}
	delete(f.sas, saKey{id.Dst.Unmap(), id.SPI})
	return f.end(OpDeleteSA, id.String(), nil)
}

// SAStats implements Kernel.
func (f *Fake) SAStats(ctx context.Context, id SAID) (Stats, error) {
	if err := f.begin(ctx, OpSAStats); err != nil {
		return Stats{}, f.end(OpSAStats, id.String(), err)
	}
	if err := checkID(id); err != nil {
		return Stats{}, f.end(OpSAStats, id.String(), err)
	}
	s := f.lookup(id)
	if s == nil {
		return Stats{}, f.end(OpSAStats, id.String(), fmt.Errorf("xfrm: get SA %s: %w", id, ErrNotFound))
	}
	return s.Stats, f.end(OpSAStats, id.String(), nil)
}

// SAs implements Kernel.
func (f *Fake) SAs(ctx context.Context) ([]SAID, error) {
	if err := f.begin(ctx, OpSAs); err != nil {
		return nil, f.end(OpSAs, "", err)
	}
	var out []SAID
	for _, s := range f.sas {
		if f.owner.OwnsSA(s.SA.Reqid, s.SA.IfID) {
			out = append(out, s.SA.ID())
		}
	}
	sortIDs(out)
	return out, f.end(OpSAs, "", nil)
}

func sortIDs(ids []SAID) {
	sort.Slice(ids, func(i, j int) bool {
		if c := ids[i].Dst.Compare(ids[j].Dst); c != 0 {
			return c < 0
		}
		return ids[i].SPI < ids[j].SPI
	})
}

// AddPolicy implements Kernel.
func (f *Fake) AddPolicy(ctx context.Context, p Policy) error {
	if err := f.begin(ctx, OpAddPolicy); err != nil {
		return f.end(OpAddPolicy, p.String(), err)
	}
	if err := p.check(); err != nil {
		return f.end(OpAddPolicy, p.String(), err)
	}
	if !f.owner.OwnsPolicy(p) {
		return f.end(OpAddPolicy, p.String(), fmt.Errorf("%w: %s", ErrNotOwned, p))
	}
	p.Selector.Src, p.Selector.Dst = p.Selector.Src.Masked(), p.Selector.Dst.Masked()
	if _, ok := f.policies[p.ID()]; ok {
		return f.end(OpAddPolicy, p.String(), fmt.Errorf("xfrm: add %s: %w", p, ErrExists))
	}
	p.Templates = slices.Clone(p.Templates)
	f.policies[p.ID()] = p
	return f.end(OpAddPolicy, p.String(), nil)
}

// DeletePolicy implements Kernel.
func (f *Fake) DeletePolicy(ctx context.Context, id PolicyID) error {
	if err := f.begin(ctx, OpDeletePolicy); err != nil {
		return f.end(OpDeletePolicy, id.String(), err)
	}
	if err := (Policy{Selector: id.Selector, Dir: id.Dir}).check(); err != nil {
		return f.end(OpDeletePolicy, id.String(), err)
	}
	id.Selector.Src, id.Selector.Dst = id.Selector.Src.Masked(), id.Selector.Dst.Masked()
	if _, ok := f.policies[id]; !ok {
		return f.end(OpDeletePolicy, id.String(), fmt.Errorf("xfrm: delete policy %s: %w", id, ErrNotFound))
	}
	delete(f.policies, id)
	return f.end(OpDeletePolicy, id.String(), nil)
}

// Policies implements Kernel.
func (f *Fake) Policies(ctx context.Context) ([]Policy, error) {
	if err := f.begin(ctx, OpPolicies); err != nil {
		return nil, f.end(OpPolicies, "", err)
	}
	// Like the kernel adapter: only the policies Keep owns.
	var out []Policy
	for _, p := range f.policyList() {
		if f.owner.OwnsPolicy(p) {
			out = append(out, p)
		}
	}
	return out, f.end(OpPolicies, "", nil)
}

func (f *Fake) policyList() []Policy {
	var out []Policy
	for _, p := range f.policies {
		p.Templates = slices.Clone(p.Templates)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// CreateInterface implements Kernel.
func (f *Fake) CreateInterface(ctx context.Context, ifc Interface) error {
	detail := fmt.Sprintf("%s if_id %d", ifc.Name, ifc.IfID)
	if err := f.begin(ctx, OpCreateInterface); err != nil {
		return f.end(OpCreateInterface, detail, err)
	}
	switch {
	case ifc.Name == "" || len(ifc.Name) >= 16 || ifc.IfID == 0:
		return f.end(OpCreateInterface, detail, fmt.Errorf("%w: xfrm interface %s", ErrInvalid, detail))
	case !f.owner.ifid(ifc.IfID):
		return f.end(OpCreateInterface, detail, fmt.Errorf("%w: xfrm interface %s", ErrNotOwned, detail))
	case f.NoInterface:
		return f.end(OpCreateInterface, detail, fmt.Errorf("xfrm: create xfrm interface %s: %w (fake)", detail, ErrNoInterface))
	}
	if _, ok := f.ifaces[ifc.Name]; ok {
		return f.end(OpCreateInterface, detail, fmt.Errorf("xfrm: create xfrm interface %s: %w", detail, ErrExists))
	}
	f.ifaces[ifc.Name] = ifc
	return f.end(OpCreateInterface, detail, nil)
}

// DeleteInterface implements Kernel.
func (f *Fake) DeleteInterface(ctx context.Context, name string) error {
	if err := f.begin(ctx, OpDeleteInterface); err != nil {
		return f.end(OpDeleteInterface, name, err)
	}
	if _, ok := f.ifaces[name]; !ok {
		return f.end(OpDeleteInterface, name, fmt.Errorf("xfrm: delete xfrm interface %q: %w", name, ErrNotFound))
	}
	delete(f.ifaces, name)
	return f.end(OpDeleteInterface, name, nil)
}

// BypassSocket implements Kernel; it only counts the call.
func (f *Fake) BypassSocket(c syscall.Conn) error {
	if err := f.begin(nil, OpBypassSocket); err != nil {
		return f.end(OpBypassSocket, "", err)
	}
	f.bypassed++
	return f.end(OpBypassSocket, "", nil)
}

// EnableUDPEncap implements Kernel; it only counts the call.
func (f *Fake) EnableUDPEncap(c syscall.Conn) error {
	if err := f.begin(nil, OpEnableUDPEncap); err != nil {
		return f.end(OpEnableUDPEncap, "", err)
	}
	f.encap++
	return f.end(OpEnableUDPEncap, "", nil)
}

// Sockets returns how many sockets got BypassSocket and EnableUDPEncap.
func (f *Fake) Sockets() (bypassed, encap int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bypassed, f.encap
}

// Events implements Kernel. A subscriber that does not keep up (more than
// 64 undelivered events) gets EventLost and its channel closes, as a
// kernel socket overrun would.
func (f *Fake) Events(ctx context.Context) (<-chan Event, error) {
	if err := f.begin(ctx, OpEvents); err != nil {
		return nil, f.end(OpEvents, "", err)
	}
	s := &fakeSub{ctx: ctx, ch: make(chan Event, eventBuffer+1)}
	f.subs = append(f.subs, s)
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dropSub(s)
	})
	return s.ch, f.end(OpEvents, "", nil)
}

func (f *Fake) dropSub(s *fakeSub) {
	if i := slices.Index(f.subs, s); i >= 0 {
		f.subs = slices.Delete(f.subs, i, i+1)
		close(s.ch)
	}
}

// Emit delivers ev to every subscriber as is.
func (f *Fake) Emit(ev Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(ev)
}

func (f *Fake) emit(ev Event) {
	for _, s := range slices.Clone(f.subs) {
		if len(s.ch) >= eventBuffer {
			s.ch <- Event{Kind: EventLost, Err: errors.New("xfrm: fake event subscriber overrun")}
			f.dropSub(s)
			continue
		}
		s.ch <- ev
	}
}

// Expire raises a soft or hard expire for an installed SA, as the kernel
// would when a lifetime runs out; a hard expire deletes the SA first.
func (f *Fake) Expire(id SAID, hard bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.lookup(id)
	if s == nil {
		return fmt.Errorf("xfrm: fake expire %s: %w", id, ErrNotFound)
	}
	ev := Event{Kind: EventSoftExpire, SA: s.SA.ID(), Reqid: s.SA.Reqid}
	if hard {
		ev.Kind = EventHardExpire
		delete(f.sas, saKey{s.SA.Dst, s.SA.SPI})
	}
	f.emit(ev)
	return nil
}

// Mapping raises a NAT mapping change for an installed ESP-in-UDP SA: its
// peer (source) is now at newAddr.
func (f *Fake) Mapping(id SAID, newAddr netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.lookup(id)
	if s == nil || s.SA.Encap == nil {
		return fmt.Errorf("xfrm: fake mapping %s: %w (or not ESP-in-UDP)", id, ErrNotFound)
	}
	f.emit(Event{
		Kind:    EventMapping,
		SA:      SAID{Dst: s.SA.Dst, SPI: s.SA.SPI},
		Reqid:   s.SA.Reqid,
		OldAddr: netip.AddrPortFrom(s.SA.Src, s.SA.Encap.SrcPort),
		NewAddr: newAddr,
	})
	return nil
}

// AddTraffic counts packets and bytes on an SA and stamps LastUsed.
func (f *Fake) AddTraffic(id SAID, packets, bytes uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.lookup(id)
	if s == nil {
		return fmt.Errorf("xfrm: fake traffic %s: %w", id, ErrNotFound)
	}
	s.Stats.Packets += packets
	s.Stats.Bytes += bytes
	s.Stats.LastUsed = f.now()
	return nil
}

// Flush implements Kernel with the ownership rule.
func (f *Fake) Flush(ctx context.Context) (int, int, error) {
	if err := f.begin(ctx, OpFlush); err != nil {
		return 0, 0, f.end(OpFlush, "", err)
	}
	nsa, npol := 0, 0
	for k, s := range f.sas {
		if f.owner.OwnsSA(s.SA.Reqid, s.SA.IfID) {
			delete(f.sas, k)
			nsa++
		}
	}
	for id, p := range f.policies {
		if f.owner.OwnsPolicy(p) {
			delete(f.policies, id)
			npol++
		}
	}
	return nsa, npol, f.end(OpFlush, fmt.Sprintf("%d SAs, %d policies", nsa, npol), nil)
}

// Seed installs foreign or stale state directly, bypassing validation and
// the ownership rule (to test Flush and restart handling).
func (f *Fake) Seed(sas []SA, policies []Policy) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sa := range sas {
		f.sas[saKey{sa.Dst.Unmap(), sa.SPI}] = &FakeSA{SA: sa}
	}
	for _, p := range policies {
		f.policies[p.ID()] = p
	}
}

// State returns copies of everything installed: SAs sorted by (dst, SPI),
// policies, and interface names.
func (f *Fake) State() (sas []FakeSA, policies []Policy, ifaces []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sas {
		c := *s
		c.SA.Key = slices.Clone(c.SA.Key)
		sas = append(sas, c)
	}
	sort.Slice(sas, func(i, j int) bool {
		if c := sas[i].SA.Dst.Compare(sas[j].SA.Dst); c != 0 {
			return c < 0
		}
		return sas[i].SA.SPI < sas[j].SA.SPI
	})
	for name := range f.ifaces {
		ifaces = append(ifaces, name)
	}
	sort.Strings(ifaces)
	return sas, f.policyList(), ifaces
}

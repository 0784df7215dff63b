package netcfg

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"
)

// op is the kind of kernel change a step makes.
type op int

const (
	opUp op = iota
	opDown
	opRename
	opAddAltName
	opDelAltName
	opMTU
	opAddBond
	opSetBond
	opPrimary
	opAddVLAN
	opDelete
	opEnslave
	opRelease
	opAddAddr
	opDelAddr
	opRoute
	opDelRoute
)

// Step is one kernel change of a plan. Change.Link is the interface's
// name at the moment the step runs.
type Step struct {
	Change
	op    op
	arg   string // rename target, master, primary
	mtu   int
	bond  bondChange
	vlan  VLANSpec
	addr  netip.Prefix
	route Route
}

// bondChange is the bond settings a step sets; "" and 0 leave a setting
// alone.
type bondChange struct {
	Mode, LACPRate, HashPolicy string
	MIIMon                     int
}

// Plan is what Apply changes, in order. An empty plan means the kernel
// already runs the configuration.
type Plan struct {
	Steps []Step
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// Changes lists the steps in words.
func (p Plan) Changes() []Change {
	out := make([]Change, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.Change
	}
	return out
}

// String is the plan one step a line ("eth0: up").
func (p Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "%s: %s\n", s.Link, s.What)
	}
	return b.String()
}

// MissingLinksError names configured ports that no running link
// matches. It wraps ErrNoLink; Apply waits for them up to LinkWait.
type MissingLinksError struct {
	Names []string
}

func (e *MissingLinksError) Error() string {
	return fmt.Sprintf("%s: %v", strings.Join(e.Names, ", "), ErrNoLink)
}

func (e *MissingLinksError) Unwrap() error { return ErrNoLink }

// ErrConflict is returned when the running links cannot be brought to
// the configuration without touching interfaces it does not name (a
// match selecting two ports, a name taken by another interface, a bond
// name held by a port…).
var ErrConflict = errors.New("conflicts with the running interfaces")

// mlink is the planner's model of one link; the planner updates it as
// it plans so later steps see the effect of earlier ones, as the kernel
// will.
type mlink struct {
	name, kind string
	// alt are the alternative names; a port Keep renamed keeps its
	// kernel name as one, so a configuration naming it so finds it.
	alt       []string
	index     int // 0: created by this plan
	mac, perm string
	mtu       int
	up        bool
	master    string
	bond      *BondInfo
	// primaryParam is the bond's primary by name; the kernel reports it
	// only while that member is enslaved.
	primaryParam string
	vlan         *VLANInfo
	addrs        []netip.Prefix
}

type mroute struct {
	key routeKey
	via netip.Addr
	dev string
}

type planner struct {
	links  []*mlink
	routes []mroute
	steps  []Step
}

// PlanFor computes the steps that bring the running state to want. prev
// is the configuration being replaced (nil at boot): the bonds, VLANs,
// addresses and routes it declared that want does not are removed.
// Nothing else the configuration does not name is touched, with one
// exception: a configured bond's members are exactly the configured
// ones. The plan for a state that already matches want is empty.
func PlanFor(running Snapshot, want, prev []Ethernet) (Plan, error) {
	p := &planner{}
	for _, li := range running.Links {
		l := &mlink{name: li.Name, kind: li.Kind, index: li.Index, mac: strings.ToLower(li.MAC), perm: strings.ToLower(li.PermMAC),
			mtu: li.MTU, up: li.Up, master: li.Master, alt: slices.Clone(li.AltNames)}
		if li.Bond != nil {
			b := *li.Bond
			l.bond, l.primaryParam = &b, b.Primary
		}
		if li.VLAN != nil {
			v := *li.VLAN
			l.vlan = &v
		}
		for _, a := range li.Addresses {
			if pr, err := netip.ParsePrefix(a); err == nil {
				l.addrs = append(l.addrs, pr)
			}
		}
		p.links = append(p.links, l)
	}
	for _, r := range running.Routes {
		mr := mroute{key: routeKey{table: r.Table, metric: r.Metric}, dev: r.Dev}
		if r.Table == 254 {
			mr.key.table = 0
		}
		if r.To == "default" {
			if r.IPv6 {
				mr.key.to = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			} else {
				mr.key.to = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			}
		} else if to, err := netip.ParsePrefix(r.To); err == nil {
			mr.key.to = to.Masked()
		} else {
			continue
		}
		if r.Via != "" {
			mr.via, _ = netip.ParseAddr(r.Via)
		}
		p.routes = append(p.routes, mr)
	}
	if err := p.plan(want, prev); err != nil {
		return Plan{}, err
	}
	return Plan{Steps: p.steps}, nil
}

// declared pairs a link with what a configuration says of it.
type declared struct {
	l *mlink
	e Ethernet
}

func (p *planner) plan(want, prev []Ethernet) error {
	byName := map[string]Ethernet{}
	var ports, bonds, vlans []Ethernet
	for _, e := range want {
		if _, dup := byName[e.Name]; dup {
			return fmt.Errorf("%s: declared twice", e.Name)
		}
		byName[e.Name] = e
		switch e.Kind {
		case KindEthernet:
			ports = append(ports, e)
		case KindBond:
			if e.Bond == nil {
				return fmt.Errorf("%s: a bond without bond settings", e.Name)
			}
			bonds = append(bonds, e)
		case KindVLAN:
			if e.VLAN == nil {
				return fmt.Errorf("%s: a VLAN without tag and link", e.Name)
			}
			vlans = append(vlans, e)
		default:
			return fmt.Errorf("%s: unknown kind %q", e.Name, e.Kind)
		}
	}
	// What the previous configuration declared, by link identity: links
	// change names below.
	var before []declared
	prevOf := map[*mlink]Ethernet{}
	for _, e := range prev {
		if l := p.link(e.Name); l != nil && prevOf[l].Name == "" {
			before = append(before, declared{l, e})
			prevOf[l] = e
		}
	}
	if lo := p.link("lo"); lo != nil && !lo.up {
		p.up(lo)
	}
	found, err := p.resolvePorts(ports)
	if err != nil {
		return err
	}
	wantedPort := map[*mlink]bool{}
	for _, l := range found {
		wantedPort[l] = true
	}
	// Ports the previous configuration declared and this one does not:
	// back to the kernel's name if it renamed them, and closed.
	var dropped []*mlink
	for _, d := range before {
		if d.e.Kind == KindEthernet && !wantedPort[d.l] && d.l.kind != "bond" && d.l.kind != "vlan" {
			dropped = append(dropped, d.l)
		}
	}
	if err := p.renames(ports, found, dropped, prevOf); err != nil {
		return err
	}
	// Bonds and VLANs the previous configuration made and this one does
	// not want: VLANs first (deleting a bond takes its VLANs with it).
	for _, kind := range []Kind{KindVLAN, KindBond} {
		for _, d := range before {
			if _, wanted := byName[d.l.name]; d.e.Kind == kind && !wanted && d.l.kind == string(kind) && slices.Contains(p.links, d.l) {
				p.del(d.l)
			}
		}
	}
	for _, l := range dropped {
		if l.master != "" {
			p.release(l)
		} else if l.up {
			p.down(l)
		}
		if prevOf[l].MTU != 0 && l.mtu != 1500 {
			p.setMTU(l, 1500)
		}
	}
	// An MTU only the previous configuration set goes back to the
	// default.
	mtuOf := func(e Ethernet, l *mlink, dflt int) int {
		if e.MTU == 0 && l != nil && prevOf[l].MTU != 0 {
			return dflt
		}
		return e.MTU
	}
	for _, e := range ports {
		l := found[e.Name]
		if l.master != "" && l.master != e.Master {
			p.release(l)
		}
		if e.Master != "" {
			continue // the bond sets its MTU and opens it
		}
		if mtu := mtuOf(e, l, 1500); mtu != 0 && l.mtu != mtu {
			p.setMTU(l, mtu)
		}
		if !l.up {
			p.up(l)
		}
	}
	for _, b := range bonds {
		l := p.link(b.Name)
		var prevSpec *BondSpec
		if l != nil {
			prevSpec = prevOf[l].Bond
		}
		if err := p.bond(b, found, mtuOf(b, l, 1500), prevSpec); err != nil {
			return err
		}
	}
	for _, v := range vlans {
		if err := p.vlan(v, mtuOf(v, p.link(v.Name), -1)); err != nil {
			return err
		}
	}
	p.addresses(want, before)
	p.plannedRoutes(want, before)
	return nil
}

func (p *planner) link(name string) *mlink {
	for _, l := range p.links {
		if l.name == name {
			return l
		}
	}
	return nil
}

// holder is the link whose name or alternative name is name.
func (p *planner) holder(name string) *mlink {
	if l := p.link(name); l != nil {
		return l
	}
	for _, l := range p.links {
		if slices.Contains(l.alt, name) {
			return l
		}
	}
	return nil
}

func (p *planner) step(l *mlink, s Step) {
	s.Link = l.name
	p.steps = append(p.steps, s)
}

// virtualKind reports links that copy another's MAC address and are
// never what an ethernet match means.
func virtualKind(kind string) bool {
	switch kind {
	case "bond", "vlan", "bridge", "macvlan", "macvtap", "ipvlan", "ipvtap", "vxlan", "tun", "tuntap", "wireguard", "ipoib":
		return true
	}
	return false
}

// nameMatches reports whether the pattern matches the link's name or
// one of its alternative names (the kernel name of a renamed port).
func (l *mlink) nameMatches(pattern string) bool {
	for _, n := range append([]string{l.name}, l.alt...) {
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

func (l *mlink) matchMAC() string {
	if l.perm != "" {
		return l.perm
	}
	return l.mac
}

// resolvePorts finds the running link of every port: plain ports by
// name, matched ports by address, then by name pattern, each link
// claimed once. A matched port already carrying its final name is taken
// (it was renamed by an earlier apply).
func (p *planner) resolvePorts(ports []Ethernet) (map[string]*mlink, error) {
	found := map[string]*mlink{}
	claimed := map[*mlink]string{}
	var missing []string
	take := func(e Ethernet, l *mlink) {
		found[e.Name] = l
		claimed[l] = e.Name
	}
	for _, e := range ports {
		if e.Match != nil {
			continue
		}
		if l := p.holder(e.Name); l != nil && claimed[l] == "" {
			take(e, l) // by its name, or renamed earlier and found by its kernel name
		} else {
			missing = append(missing, e.Name)
		}
	}
	// A link matches when its address and its name or an alternative
	// name (the kernel name a rename kept) fit the criteria. A link
	// already carrying the configured name counts as renamed by an
	// earlier apply unless its recorded kernel name contradicts the
	// pattern.
	free := func(l *mlink) bool {
		_, taken := claimed[l]
		return !taken && !virtualKind(l.kind) && l.name != "lo"
	}
	macFits := func(e Ethernet, l *mlink) bool {
		return len(e.Match.MAC) == 0 || l.matchMAC() == strings.ToLower(e.Match.MAC.String())
	}
	// Address matches first: they are exact, patterns may overlap them.
	var matched []Ethernet
	for _, e := range ports {
		if e.Match != nil && len(e.Match.MAC) > 0 {
			matched = append(matched, e)
		}
	}
	for _, e := range ports {
		if e.Match != nil && len(e.Match.MAC) == 0 {
			matched = append(matched, e)
		}
	}
	// First the links already carrying the configured name (renamed by
	// an earlier apply), then matches among the rest.
	var rest []Ethernet
	for _, e := range matched {
		l := p.link(e.Name)
		if l != nil && free(l) && macFits(e, l) && (e.Match.Name == "" || len(l.alt) == 0 || l.nameMatches(e.Match.Name)) {
			take(e, l)
		} else {
			rest = append(rest, e)
		}
	}
	for _, e := range rest {
		var cands []*mlink
		for _, l := range p.links {
			if free(l) && macFits(e, l) && (e.Match.Name == "" || l.nameMatches(e.Match.Name)) {
				cands = append(cands, l)
			}
		}
		switch len(cands) {
		case 0:
			missing = append(missing, e.Name)
		case 1:
			take(e, cands[0])
		default:
			var names []string
			for _, l := range cands {
				names = append(names, l.name)
			}
			return nil, fmt.Errorf("%s: the match selects %s: %w", e.Name, strings.Join(names, " and "), ErrConflict)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingLinksError{Names: missing}
	}
	return found, nil
}

// renames gives matched ports their names. Names held by ports that are
// themselves being renamed (two ports swapping names) go through a
// temporary name.
//
// A port renamed from the name the kernel gave it keeps that name as an
// alternative name (unless something else holds it), so that going back
// to a configuration that names the port by its kernel name (a
// rollback) finds it and renames it back.
//
// Dropped ports the previous configuration matched (and so renamed) go
// back to the kernel name their alternative name kept.
func (p *planner) renames(ports []Ethernet, found map[string]*mlink, dropped []*mlink, prevOf map[*mlink]Ethernet) error {
	pending := map[*mlink]string{}
	var order []*mlink
	type orig struct {
		l    *mlink
		name string
	}
	var kernelNames []orig
	for _, e := range ports {
		if l := found[e.Name]; l.name != e.Name {
			pending[l] = e.Name
			order = append(order, l)
			if len(l.alt) == 0 {
				kernelNames = append(kernelNames, orig{l, l.name})
			}
		}
	}
	for _, l := range dropped {
		if prevOf[l].Match != nil && len(l.alt) > 0 && l.name != l.alt[0] {
			if h := p.holder(l.alt[0]); h == l {
				pending[l] = l.alt[0]
				order = append(order, l)
			}
		}
	}
	defer func() {
		for _, o := range kernelNames {
			if p.holder(o.name) == nil && len(o.name) <= 15 {
				p.step(o.l, Step{Change: Change{What: "altname " + o.name}, op: opAddAltName, arg: o.name})
				o.l.alt = append(o.l.alt, o.name)
			}
		}
	}()
	for len(order) > 0 {
		progress := false
		for i := 0; i < len(order); i++ {
			l := order[i]
			to := pending[l]
			holder := p.holder(to)
			if holder != nil && holder != l {
				if _, renaming := pending[holder]; !renaming {
					return fmt.Errorf("%s: cannot rename %s: the name is held by another interface (index %d): %w", to, l.name, holder.index, ErrConflict)
				}
				continue
			}
			p.rename(l, to)
			delete(pending, l)
			order = append(order[:i], order[i+1:]...)
			i--
			progress = true
		}
		if !progress {
			// Every remaining target is held by another pending port:
			// following who blocks whom ends in a cycle. Park a port
			// of it (one whose name another pending port wants) on a
			// free temporary name. A name held as an alternative name
			// does not come free that way: no order exists then.
			var l *mlink
			for _, c := range order {
				if slices.ContainsFunc(order, func(o *mlink) bool { return o != c && p.link(pending[o]) == c }) {
					l = c
					break
				}
			}
			if l == nil {
				return fmt.Errorf("cannot order the renames of %d ports: %w", len(order), ErrConflict)
			}
			tmp := fmt.Sprintf("kt%d", l.index)
			for n := 0; p.holder(tmp) != nil; n++ {
				tmp = fmt.Sprintf("kt%d-%d", l.index, n)
			}
			p.rename(l, tmp)
		}
	}
	return nil
}

func (p *planner) rename(l *mlink, to string) {
	if l.up {
		p.down(l)
	}
	if slices.Contains(l.alt, to) {
		// The kernel refuses a name in use, alternative names included.
		p.step(l, Step{Change: Change{What: "drop altname " + to}, op: opDelAltName, arg: to})
		l.alt = slices.DeleteFunc(l.alt, func(a string) bool { return a == to })
	}
	p.step(l, Step{Change: Change{What: "rename to " + to}, op: opRename, arg: to})
	old := l.name
	l.name = to
	for _, o := range p.links {
		if o.master == old {
			o.master = to
		}
		if o.vlan != nil && o.vlan.Link == old {
			o.vlan.Link = to
		}
		if o.bond != nil && o.bond.Primary == old {
			o.bond.Primary = to
		}
	}
	for i := range p.routes {
		if p.routes[i].dev == old {
			p.routes[i].dev = to
		}
	}
}

// down closes l; the kernel then drops the routes through it and its
// IPv6 addresses.
func (p *planner) down(l *mlink) {
	p.step(l, Step{Change: Change{What: "down"}, op: opDown})
	p.closed(l)
}

func (p *planner) closed(l *mlink) {
	l.up = false
	l.addrs = slices.DeleteFunc(l.addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
	p.routes = slices.DeleteFunc(p.routes, func(r mroute) bool { return r.dev == l.name })
}

func (p *planner) up(l *mlink) {
	p.step(l, Step{Change: Change{What: "up"}, op: opUp})
	l.up = true
}

func (p *planner) setMTU(l *mlink, mtu int) {
	p.step(l, Step{Change: Change{What: fmt.Sprintf("mtu %d", mtu)}, op: opMTU, mtu: mtu})
	l.mtu = mtu
	for _, o := range p.links {
		if o.master == l.name {
			o.mtu = mtu
		}
		if o.vlan != nil && o.vlan.Link == l.name && o.mtu > mtu {
			o.mtu = mtu
		}
	}
}

// del deletes l; the kernel releases a bond's members (closing them),
// deletes the VLANs on it and the routes through them all.
func (p *planner) del(l *mlink) {
	p.step(l, Step{Change: Change{What: "delete"}, op: opDelete})
	p.gone(l)
}

func (p *planner) gone(l *mlink) {
	p.links = slices.DeleteFunc(p.links, func(o *mlink) bool { return o == l })
	p.routes = slices.DeleteFunc(p.routes, func(r mroute) bool { return r.dev == l.name })
	for _, o := range slices.Clone(p.links) {
		if o.master == l.name {
			o.master = ""
			o.mtu = 0 // restored by the kernel to what it was; unknown here
			p.closed(o)
		}
		if o.vlan != nil && o.vlan.Link == l.name {
			p.gone(o)
		}
	}
}

func usesPrimary(mode string) bool {
	return mode == "active-backup" || mode == "balance-tlb" || mode == "balance-alb"
}

// release takes l out of its bond; the kernel closes it.
func (p *planner) release(l *mlink) {
	p.step(l, Step{Change: Change{What: "release from " + l.master}, op: opRelease, arg: l.master})
	if b := p.link(l.master); b != nil && b.bond != nil && b.bond.Primary == l.name {
		b.bond.Primary = ""
	}
	l.master = ""
	l.mtu = 0 // the kernel restores the MTU the port had before; unknown here
	p.closed(l)
}

// enslave adds the (closed) port l to bond b; the kernel opens it and
// gives it the bond's MTU.
func (p *planner) enslave(l, b *mlink) {
	p.step(l, Step{Change: Change{What: "enslave to " + b.name}, op: opEnslave, arg: b.name})
	l.master, l.up, l.mtu = b.name, true, b.mtu
	if b.primaryParam == l.name && usesPrimary(b.bond.Mode) {
		b.bond.Primary = l.name
	}
}

func (c bondChange) String() string {
	var parts []string
	if c.Mode != "" {
		parts = append(parts, "mode "+c.Mode)
	}
	if c.MIIMon != 0 {
		parts = append(parts, fmt.Sprintf("miimon %d", c.MIIMon))
	}
	if c.LACPRate != "" {
		parts = append(parts, "lacp-rate "+c.LACPRate)
	}
	if c.HashPolicy != "" {
		parts = append(parts, "transmit-hash-policy "+c.HashPolicy)
	}
	return strings.Join(parts, " ")
}

// bond plans a bond; prev is what the previous configuration set on it
// (settings only it named go back to the kernel's defaults).
func (p *planner) bond(e Ethernet, ports map[string]*mlink, mtu int, prev *BondSpec) error {
	s := *e.Bond
	spec := &s
	if prev != nil && prev.HashPolicy != "" && spec.HashPolicy == "" {
		spec.HashPolicy = "layer2"
	}
	if prev != nil && prev.LACPRate != "" && spec.LACPRate == "" && spec.Mode == "802.3ad" {
		spec.LACPRate = "slow"
	}
	l := p.link(e.Name)
	if l != nil && (l.kind != "bond" || l.bond == nil) {
		return fmt.Errorf("%s: exists and is a %s, not a bond: %w", e.Name, l.kind, ErrConflict)
	}
	if l == nil {
		c := bondChange{Mode: spec.Mode, MIIMon: spec.MIIMon, LACPRate: spec.LACPRate, HashPolicy: spec.HashPolicy}
		l = &mlink{name: e.Name, kind: "bond", mtu: 1500, bond: &BondInfo{Mode: spec.Mode, MIIMon: spec.MIIMon, LACPRate: spec.LACPRate, HashPolicy: spec.HashPolicy}}
		p.links = append(p.links, l)
		p.step(l, Step{Change: Change{What: "create bond " + c.String()}, op: opAddBond, bond: c})
	} else {
		var c bondChange
		modeChange := l.bond.Mode != spec.Mode
		if modeChange {
			// The kernel changes the mode only of a closed bond
			// without members.
			if l.up {
				p.down(l)
			}
			for _, o := range slices.Clone(p.links) {
				if o.master == l.name {
					p.release(o)
				}
			}
			c.Mode = spec.Mode
			l.bond.Mode = spec.Mode
		}
		if spec.LACPRate != "" && (modeChange || l.bond.LACPRate != spec.LACPRate) {
			if l.up { // the LACP rate too needs a closed bond
				p.down(l)
			}
			c.LACPRate = spec.LACPRate
			l.bond.LACPRate = spec.LACPRate
		}
		if l.bond.MIIMon != spec.MIIMon {
			c.MIIMon = spec.MIIMon
			l.bond.MIIMon = spec.MIIMon
		}
		if spec.HashPolicy != "" && l.bond.HashPolicy != spec.HashPolicy {
			c.HashPolicy = spec.HashPolicy
			l.bond.HashPolicy = spec.HashPolicy
		}
		if c != (bondChange{}) {
			p.step(l, Step{Change: Change{What: "set bond " + c.String()}, op: opSetBond, bond: c})
		}
	}
	if mtu != 0 && l.mtu != mtu {
		p.setMTU(l, mtu)
	}
	for _, o := range slices.Clone(p.links) {
		if o.master == l.name && !slices.Contains(spec.Members, o.name) {
			p.release(o)
		}
	}
	for _, m := range spec.Members {
		ml := ports[m]
		if ml == nil {
			return fmt.Errorf("%s: member %s is not a configured ethernet", e.Name, m)
		}
		if ml.master == l.name {
			if !ml.up {
				p.up(ml)
			}
			continue
		}
		if ml.up {
			p.down(ml)
		}
		p.enslave(ml, l)
	}
	if l.bond.Primary != spec.Primary {
		what := "primary " + spec.Primary
		if spec.Primary == "" {
			what = "no primary"
		}
		p.step(l, Step{Change: Change{What: what}, op: opPrimary, arg: spec.Primary})
		l.bond.Primary, l.primaryParam = spec.Primary, spec.Primary
	}
	if !l.up {
		p.up(l)
	}
	return nil
}

// vlan plans a VLAN; mtu -1 means its link's.
func (p *planner) vlan(e Ethernet, mtu int) error {
	spec := e.VLAN
	l := p.link(e.Name)
	if l != nil && (l.kind != "vlan" || l.vlan == nil) {
		return fmt.Errorf("%s: exists and is a %s, not a VLAN: %w", e.Name, l.kind, ErrConflict)
	}
	if l != nil && (l.vlan.ID != spec.ID || l.vlan.Link != spec.Link) {
		p.del(l) // a VLAN's tag and parent are fixed at creation
		l = nil
	}
	parent := p.link(spec.Link)
	if parent == nil {
		return fmt.Errorf("%s: link %s: %w", e.Name, spec.Link, ErrNoLink)
	}
	if l == nil {
		l = &mlink{name: e.Name, kind: "vlan", mtu: parent.mtu, vlan: &VLANInfo{ID: spec.ID, Link: spec.Link}}
		p.links = append(p.links, l)
		p.step(l, Step{Change: Change{What: fmt.Sprintf("create vlan %d on %s", spec.ID, spec.Link)}, op: opAddVLAN, vlan: *spec})
	}
	if mtu == -1 {
		mtu = parent.mtu
	}
	if mtu != 0 && l.mtu != mtu {
		p.setMTU(l, mtu)
	}
	if !l.up {
		p.up(l)
	}
	return nil
}

func hasPrefix(list []netip.Prefix, a netip.Prefix) bool {
	for _, h := range list {
		if h.Addr().Unmap() == a.Addr().Unmap() && h.Bits() == a.Bits() {
			return true
		}
	}
	return false
}

// addresses removes what the previous configuration declared and this
// one does not, then adds what this one declares and the links lack.
func (p *planner) addresses(want []Ethernet, before []declared) {
	wanted := map[*mlink][]netip.Prefix{}
	for _, e := range want {
		if l := p.link(e.Name); l != nil {
			wanted[l] = e.Addresses
		}
	}
	for _, d := range before {
		if !slices.Contains(p.links, d.l) {
			continue // deleted
		}
		for _, a := range d.e.Addresses {
			if !hasPrefix(wanted[d.l], a) && hasPrefix(d.l.addrs, a) {
				p.step(d.l, Step{Change: Change{What: "remove address " + a.String()}, op: opDelAddr, addr: a})
				d.l.addrs = slices.DeleteFunc(d.l.addrs, func(h netip.Prefix) bool { return hasPrefix([]netip.Prefix{h}, a) })
			}
		}
	}
	for _, e := range want {
		l := p.link(e.Name)
		for _, a := range e.Addresses {
			if !hasPrefix(l.addrs, a) {
				p.step(l, Step{Change: Change{What: "address " + a.String()}, op: opAddAddr, addr: a})
				l.addrs = append(l.addrs, a)
			}
		}
	}
}

func routeWords(r Route) string {
	s := "route " + routeName(r) + " via " + r.Via.String()
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	if r.Table != 0 {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// plannedRoutes removes the routes prev declared and want does not,
// then adds or replaces what want declares and the kernel lacks.
func (p *planner) plannedRoutes(want []Ethernet, before []declared) {
	type dr struct {
		r   Route
		dev string
	}
	var wanted []dr
	isWanted := func(r Route, dev string) bool {
		return slices.ContainsFunc(wanted, func(w dr) bool { return w.dev == dev && w.r.key() == r.key() && w.r.Via == r.Via })
	}
	for _, e := range want {
		for _, r := range e.Routes {
			wanted = append(wanted, dr{r, e.Name})
		}
	}
	for _, d := range before {
		if !slices.Contains(p.links, d.l) {
			continue // deleted, and its routes with it
		}
		dev := d.l.name
		for _, r := range d.e.Routes {
			if isWanted(r, dev) {
				continue
			}
			k := r.key()
			i := slices.IndexFunc(p.routes, func(m mroute) bool { return m.key == k && m.via == r.Via && m.dev == dev })
			if i < 0 {
				continue
			}
			p.steps = append(p.steps, Step{Change: Change{Link: dev, What: "remove " + routeWords(r)}, op: opDelRoute, route: r})
			p.routes = slices.Delete(p.routes, i, i+1)
		}
	}
	for _, w := range wanted {
		k := w.r.key()
		if slices.ContainsFunc(p.routes, func(m mroute) bool { return m.key == k && m.via == w.r.Via && m.dev == w.dev }) {
			continue
		}
		p.steps = append(p.steps, Step{Change: Change{Link: w.dev, What: routeWords(w.r)}, op: opRoute, route: w.r})
		p.routes = slices.DeleteFunc(p.routes, func(m mroute) bool { return m.key == k })
		p.routes = append(p.routes, mroute{key: k, via: w.r.Via, dev: w.dev})
	}
}

package model

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Desired validates c and computes one node's desired state from it.
//
// Every optional setting is resolved in the same order: the object's own
// value, then the cluster's defaults section, then the built-in default
// from defaults.go. The result shares no memory with c except immutable
// strings, and is read-only for its consumers: real servers of one service
// that use the same check share its type block (HTTP, Exec, ...).
//
// A real server with no check configured anywhere (server, service,
// defaults.check) gets a TCP connect check: keepalived users expect
// backends to be checked unless they say `none`.
//
// Desired validates c first and returns Validate's errors: it resolves
// only what Validate accepted, so the resolution itself cannot fail.
func Desired(c *Cluster, node string) (*NodeState, error) {
	v := validate(c)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	n := c.Nodes[node]
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the cluster description (nodes: %s)", node, strings.Join(sortedKeys(c.Nodes), ", "))
	}
	d := c.defaults()
	vrrp := cmp.Or(d.VRRP, &VRRPSettings{})
	r := &resolver{
		c: c, v: v, nodeName: node, node: n,
		defaults: d, vrrp: vrrp, garp: cmp.Or(vrrp.GARP, &GARPSettings{}), svc: cmp.Or(d.Service, &ServiceDefaults{}),
	}
	spreadOrder := map[string][]string{}
	for _, s := range c.Spread {
		maps.Copy(spreadOrder, SpreadOrder(s.Groups, s.Nodes))
	}
	r.priorities = make(map[string]map[string]int, len(c.VIPGroups))
	for name, g := range c.VIPGroups {
		r.priorities[name] = r.groupPriorities(name, g, spreadOrder[name])
	}
	return r.nodeState(), nil
}

// PreferencePriorities returns the priorities of n nodes given in
// preference order: even gaps from PreferenceTopPriority down to
// PreferenceBottomPriority (rounded to the nearest integer); when more
// than 101 nodes make the gap smaller than 1, steps of 1 that continue
// below the bottom but never below 1.
func PreferencePriorities(n int) []int {
	out := make([]int, n)
	span := PreferenceTopPriority - PreferenceBottomPriority
	for i := range out {
		var p int
		switch {
		case n == 1:
			p = PreferenceTopPriority
		case n-1 > span:
			p = PreferenceTopPriority - i
		default:
			// Round i*span/(n-1) to nearest, halves up.
			p = PreferenceTopPriority - (2*i*span+(n-1))/(2*(n-1))
		}
		out[i] = max(p, 1)
	}
	return out
}

type resolver struct {
	c *Cluster
	// v is c's validator, for its indexes: VIP owners, group families
	// and sync groups.
	v        *validator
	nodeName string
	node     *Node

	// The cluster's defaults, empty where the description sets none.
	defaults *Defaults
	vrrp     *VRRPSettings
	garp     *GARPSettings
	svc      *ServiceDefaults

	// priorities[group][node] for every group and member node: services
	// need other groups' members too.
	priorities map[string]map[string]int
}

// groupPriorities resolves a group's member nodes and their priorities:
// from its spread order, its nodes list or its priorities map, then
// per-node overrides (which change priorities but never add members).
func (r *resolver) groupPriorities(name string, g *VIPGroup, spreadOrder []string) map[string]int {
	order := g.Nodes
	if spreadOrder != nil {
		order = spreadOrder
	}
	out := maps.Clone(g.Priorities)
	if len(order) > 0 {
		out = map[string]int{}
		for i, p := range PreferencePriorities(len(order)) {
			out[order[i]] = p
		}
	}
	for n := range out {
		if p := overridePriority(r.c.Nodes[n], name); p != nil {
			out[n] = *p
		}
	}
	return out
}

func (r *resolver) nodeState() *NodeState {
	st := &NodeState{
		Cluster:    r.c.Name,
		Node:       r.nodeName,
		Interface:  r.node.Interface,
		Instances:  []Instance{},
		Services:   []VirtualService{},
		Checks:     []TrackCheckSpec{},
		SyncGroups: []SyncGroupSpec{},
	}
	// Validate parsed both; an absent address6 stays the zero Addr.
	st.Address, _ = netip.ParseAddr(r.node.Address)
	st.Address6, _ = netip.ParseAddr(r.node.Address6)

	tracked := map[string]bool{}
	for _, name := range sortedKeys(r.c.VIPGroups) {
		if _, member := r.priorities[name][r.nodeName]; !member {
			continue
		}
		if g := r.c.VIPGroups[name]; bgpGroup(g) {
			for _, t := range g.TrackChecks {
				tracked[t.Check] = true
			}
			continue
		}
		inst := r.instance(name, r.c.VIPGroups[name])
		for _, t := range inst.TrackChecks {
			tracked[t.Check] = true
		}
		st.Instances = append(st.Instances, inst)
	}
	for _, name := range sortedKeys(tracked) {
		st.Checks = append(st.Checks, r.trackCheck(name, r.c.Checks[name]))
	}
	for _, name := range sortedKeys(r.c.SyncGroups) {
		if sg := r.syncGroup(name, r.c.SyncGroups[name]); sg != nil {
			st.SyncGroups = append(st.SyncGroups, *sg)
		}
	}
	for _, name := range sortedKeys(r.c.Services) {
		if vs, ok := r.service(name, r.c.Services[name]); ok {
			st.Services = append(st.Services, vs)
		}
	}
	st.RealServer = r.realServerRole()
	st.BGP = r.bgpState(st)
	r.bgpDirector(st)
	st.ConnectionSync = r.connectionSync(st.Instances)
	return st
}

func (r *resolver) instance(name string, g *VIPGroup) Instance {
	inst := Instance{Name: name, VRID: uint8(g.VRID), Interface: groupInterface(r.node, name, g), Family: r.v.family(name)}
	for _, v := range g.VIPs {
		pfx, _ := checkVIPAddress(v.Address)
		inst.VIPs = append(inst.VIPs, VIPSpec{Prefix: pfx, Device: cmp.Or(v.Device, inst.Interface), Label: v.Label})
	}
	slices.SortFunc(inst.VIPs, func(a, b VIPSpec) int {
		return cmp.Or(
			a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()),
			cmp.Compare(a.Device, b.Device),
		)
	})

	inst.Version = first(DefaultVRRPVersion, g.Version, r.vrrp.Version)
	prios := r.priorities[name]
	inst.Priority = uint8(prios[r.nodeName])
	inst.InitialState = StateBackup
	if prios[r.nodeName] == OwnerPriority {
		inst.InitialState = StateMaster
	}
	for n, p := range prios {
		inst.Preference = append(inst.Preference, NodePriority{Node: n, Priority: uint8(p)})
	}
	// Equal priorities rank as an election breaks the tie: the higher
	// primary address first (RFC 5798 6.4.3). For IPv6 multicast that is
	// the link-local address, which the node's address6 stands for.
	slices.SortFunc(inst.Preference, func(a, b NodePriority) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority),
			r.nodeAddr(b.Node, inst.Family).Compare(r.nodeAddr(a.Node, inst.Family)), cmp.Compare(a.Node, b.Node))
	})

	inst.AdvertInterval = first(Duration(DefaultAdvertInterval), g.AdvertInterval, r.vrrp.AdvertInterval).D()
	inst.Preempt = first(DefaultPreempt, g.Preempt, r.vrrp.Preempt)
	inst.PreemptDelay = first(Duration(DefaultPreemptDelay), g.PreemptDelay, r.vrrp.PreemptDelay).D()
	inst.Unicast = first(DefaultUnicast, g.Unicast, r.vrrp.Unicast)

	garp := cmp.Or(g.GARP, &GARPSettings{})
	inst.GARP = GARPSpec{
		Repeat:       first(DefaultGARPRepeat, garp.Repeat, r.garp.Repeat),
		Interval:     first(Duration(DefaultGARPInterval), garp.Interval, r.garp.Interval).D(),
		RefreshDelay: first(Duration(DefaultGARPRefreshDelay), garp.RefreshDelay, r.garp.RefreshDelay).D(),
	}

	r.unicast(&inst, prios)

	if g.Auth != nil {
		a := *g.Auth
		inst.Auth = &a
	}
	if len(g.TrackInterfaces) > 0 {
		inst.TrackInterfaces = slices.Clone(g.TrackInterfaces)
		slices.SortFunc(inst.TrackInterfaces, func(a, b TrackInterface) int { return cmp.Compare(a.Interface, b.Interface) })
	}
	for _, ref := range g.TrackChecks {
		inst.TrackChecks = append(inst.TrackChecks, TrackedCheck{Check: ref.Check, Weight: first(r.c.Checks[ref.Check].Weight, ref.Weight)})
	}
	slices.SortFunc(inst.TrackChecks, func(a, b TrackedCheck) int { return cmp.Compare(a.Check, b.Check) })
	inst.Notify = r.notify(g.Notify)
	inst.SyncGroup = r.v.syncOf[name]
	return inst
}

// unicast fills the source address and, for unicast groups, the peers:
// every other member's address in the group's family.
func (r *resolver) unicast(inst *Instance, members map[string]int) {
	addrOf := func(n string) netip.Addr { return r.nodeAddr(n, inst.Family) }
	if inst.Family == IPv4 || inst.Unicast {
		inst.SourceAddress = addrOf(r.nodeName)
	}
	if !inst.Unicast {
		return
	}
	for n := range members {
		if n != r.nodeName {
			inst.Peers = append(inst.Peers, addrOf(n))
		}
	}
	slices.SortFunc(inst.Peers, netip.Addr.Compare)
}

// nodeAddr is node n's address in family fam.
func (r *resolver) nodeAddr(n string, fam Family) netip.Addr {
	s := r.c.Nodes[n].Address
	if fam == IPv6 {
		s = r.c.Nodes[n].Address6
	}
	a, _ := netip.ParseAddr(s) // Validate checked every member has one
	return a
}

func (r *resolver) notify(n *Notify) NotifySpec {
	n = cmp.Or(n, &Notify{})
	return NotifySpec{
		Master:  cloneCommand(n.Master),
		Backup:  cloneCommand(n.Backup),
		Fault:   cloneCommand(n.Fault),
		Stop:    cloneCommand(n.Stop),
		Timeout: first(Duration(DefaultNotifyTimeout), n.Timeout).D(),
		User:    cmp.Or(n.User, r.defaults.ScriptUser),
	}
}

func (r *resolver) trackCheck(name string, t *TrackCheck) TrackCheckSpec {
	spec := TrackCheckSpec{
		Name:     name,
		Command:  cloneCommand(t.Command),
		Interval: first(Duration(DefaultTrackInterval), t.Interval).D(),
		Rise:     first(DefaultTrackRise, t.Rise),
		Fall:     first(DefaultTrackFall, t.Fall),
		Weight:   t.Weight,
		User:     cmp.Or(t.User, r.defaults.ScriptUser),
	}
	spec.Timeout = first(Duration(spec.Interval), t.Timeout).D()
	return spec
}

// syncGroup returns the sync group with the instances this node runs, or
// nil when the node runs none of its groups.
func (r *resolver) syncGroup(name string, s *SyncGroup) *SyncGroupSpec {
	var members []string
	for _, g := range s.Groups {
		if _, member := r.priorities[g][r.nodeName]; member {
			members = append(members, g)
		}
	}
	if len(members) == 0 {
		return nil
	}
	slices.Sort(members)
	return &SyncGroupSpec{Name: name, Instances: members, Notify: r.notify(s.Notify)}
}

// service resolves one virtual service and reports whether this node
// programs it: when the node is a member of the service's VIP group, or
// always for a fwmark service without a group.
func (r *resolver) service(name string, s *Service) (VirtualService, bool) {
	vs := VirtualService{Name: name}
	if s.FWMark != 0 {
		vs.FWMark, vs.Group, vs.Family = uint32(s.FWMark), s.Group, cmp.Or(s.Family, IPv4)
		vs.Match = resolveMatch(s.Match)
	} else {
		a, _ := netip.ParseAddr(s.VIP)
		vs.Group, vs.Address, vs.Family, vs.Port = r.v.vipOwner[a].group, a, familyOf(a), uint16(s.Port)
		vs.Protocol = cmp.Or(s.Protocol, r.svc.Protocol, DefaultProtocol)
	}
	if _, member := r.priorities[vs.Group][r.nodeName]; vs.Group != "" && !member {
		return vs, false
	}

	vs.Scheduler = cmp.Or(s.Scheduler, r.svc.Scheduler, DefaultScheduler)
	if bgpGroup(r.c.VIPGroups[vs.Group]) {
		vs.Scheduler = cmp.Or(s.Scheduler, r.svc.Scheduler, ECMPScheduler)
	}
	if len(s.SchedulerFlags) > 0 {
		vs.SchedulerFlags = slices.Clone(s.SchedulerFlags)
		slices.Sort(vs.SchedulerFlags)
	}
	vs.Forwarding = cmp.Or(s.Forwarding, r.svc.Forwarding, DefaultForwarding)
	if p := cmp.Or(s.Persistence, r.svc.Persistence); p != nil {
		vs.Persistence = p.Timeout.D()
		vs.PersistenceMask = persistenceMask(p.Netmask, vs.Family)
	}
	vs.Quorum = first(DefaultQuorum, s.Quorum)
	vs.Drain = first(DefaultDrain, s.Drain, r.svc.Drain)
	vs.StartDown = first(false, s.StartDown)

	// Servers whose checks come out equal share one spec (they are only
	// read) rather than one copy each: BenchmarkPlan10k (make bench,
	// docs/performance.md) shows the memory and time this saves.
	var checks []CheckSpec
	var lastBase, last *CheckSpec
	serviceCheck := r.healthCheck(nil, s.Check)
	vs.RealServers = make([]RealServerSpec, 0, len(s.RealServers))
	for _, rs := range s.RealServers {
		spec := r.realServer(&rs, vs)
		base := serviceCheck
		if rs.Check != nil {
			base = r.healthCheck(rs.Check, s.Check)
		}
		if base != nil {
			port := cmp.Or(base.Port, spec.Port)
			if base != lastBase || last.Port != port {
				// Growing checks leaves the specs handed out where they
				// are, in the old array.
				checks = append(checks, *base)
				last, lastBase = &checks[len(checks)-1], base
				last.Port = port
			}
			spec.Check = last
		}
		vs.RealServers = append(vs.RealServers, spec)
	}
	slices.SortFunc(vs.RealServers, func(a, b RealServerSpec) int {
		return cmp.Or(a.Address.Compare(b.Address), cmp.Compare(a.Port, b.Port))
	})
	if s.SorryServer != nil {
		spec := r.realServer(s.SorryServer, vs)
		// The sorry server is what clients get when everything else is
		// down; it is only checked when it says so itself.
		if s.SorryServer.Check != nil {
			spec.Check = r.healthCheck(s.SorryServer.Check, nil)
			if spec.Check != nil && spec.Check.Port == 0 {
				spec.Check.Port = spec.Port
			}
		}
		vs.SorryServer = &spec
	}
	return vs, true
}

// realServer resolves a real or sorry server of vs.
func (r *resolver) realServer(rs *RealServer, vs VirtualService) RealServerSpec {
	a, _ := netip.ParseAddr(rs.address(r.c, vs.Family))
	return RealServerSpec{
		Address:        a,
		Port:           cmp.Or(uint16(rs.Port), vs.Port),
		Weight:         first(DefaultWeight, rs.Weight),
		UpperThreshold: uint32(rs.UpperThreshold),
		LowerThreshold: uint32(rs.LowerThreshold),
	}
}

// healthCheck resolves a real server's check. Of the levels (server,
// service, defaults.check), the most specific one with a type block
// supplies the type and the port, so `check: {interval: 2s}` on a service
// keeps the type the defaults chose; each timing field comes from the
// most specific level that sets it, then the built-in default. With no
// type block anywhere the check is TCP connect. `none` gives nil. Port 0
// in the result means "the real server's port".
func (r *resolver) healthCheck(server, service *Check) *CheckSpec {
	levels := slices.DeleteFunc([]*Check{server, service, r.defaults.Check}, func(c *Check) bool { return c == nil })
	spec := &CheckSpec{Type: "tcp"}
	// The port belongs with the type block (a service's tcp check on 9000
	// says nothing about a server's https override); untyped levels may
	// still name one for the default TCP check.
	if i := slices.IndexFunc(levels, func(c *Check) bool { return c.Port != 0 }); i >= 0 {
		spec.Port = uint16(levels[i].Port)
	}
	// The most specific level with a type block.
	if i := slices.IndexFunc(levels, (*Check).hasType); i >= 0 {
		c := levels[i]
		spec.Port = uint16(c.Port)
		switch {
		case c.None != nil:
			return nil
		case c.TCP != nil:
			spec.Type = "tcp"
		case c.HTTP != nil:
			spec.Type, spec.HTTP = "http", resolveHTTP(c.HTTP)
		case c.HTTPS != nil:
			spec.Type, spec.HTTP = "https", resolveHTTP(c.HTTPS)
		case c.Exec != nil:
			e := *c.Exec
			e.Command = cloneCommand(e.Command)
			e.User = cmp.Or(e.User, r.defaults.ScriptUser)
			spec.Type, spec.Exec, spec.User = "exec", &e, e.User
		case c.UDP != nil:
			u := *c.UDP
			spec.Type, spec.UDP = "udp", &u
		case c.DNS != nil:
			d := *c.DNS
			d.Type = cmp.Or(d.Type, DefaultDNSType)
			spec.Type, spec.DNS = "dns", &d
		}
	}
	spec.Interval = first(Duration(DefaultCheckInterval), fieldOf(levels, func(c *Check) *Duration { return c.Interval })).D()
	spec.Timeout = first(Duration(DefaultCheckTimeout), fieldOf(levels, func(c *Check) *Duration { return c.Timeout })).D()
	spec.Retries = first(DefaultCheckRetries, fieldOf(levels, func(c *Check) *int { return c.Retries }))
	spec.Rise = first(DefaultCheckRise, fieldOf(levels, func(c *Check) *int { return c.Rise }))
	spec.Fall = first(DefaultCheckFall, fieldOf(levels, func(c *Check) *int { return c.Fall }))
	return spec
}

func (c *Check) hasType() bool {
	return c.TCP != nil || c.HTTP != nil || c.HTTPS != nil || c.Exec != nil || c.UDP != nil || c.DNS != nil || c.None != nil
}

func resolveHTTP(h *HTTPCheck) *HTTPCheck {
	out := *h
	out.Path = cmp.Or(out.Path, DefaultHTTPPath)
	if len(out.Status) == 0 {
		out.Status = StatusCodes{StatusCode(DefaultHTTPStatus)}
	} else {
		out.Status = out.Status.Normalize()
	}
	return &out
}

// persistenceMask is the prefix length of a netmask setting Validate
// accepted: an IPv4 dotted mask (255.255.255.0 → 24) or a prefix length;
// empty means the whole address (32 or 128).
func persistenceMask(s string, fam Family) int {
	if s == "" && fam == IPv6 {
		return 128
	}
	if s == "" {
		return 32
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	a, _ := netip.ParseAddr(s)
	return maskBits(a)
}

// maskBits is the prefix length of an IPv4 netmask, or -1 when its ones
// are not contiguous.
func maskBits(mask netip.Addr) int {
	b := mask.As4()
	m := binary.BigEndian.Uint32(b[:])
	ones := bits.LeadingZeros32(^m)
	if m<<ones != 0 {
		return -1
	}
	return ones
}

// overridePriority is node n's priority override for group, or nil.
func overridePriority(n *Node, group string) *int {
	if n == nil || n.Overrides[group] == nil {
		return nil
	}
	return n.Overrides[group].Priority
}

// groupInterface is the interface node n runs group g (named name) on:
// n's override for the group, else the group's, else n's own.
func groupInterface(n *Node, name string, g *VIPGroup) string {
	if n == nil {
		return g.Interface
	}
	if o := n.Overrides[name]; o != nil && o.Interface != "" {
		return o.Interface
	}
	return cmp.Or(g.Interface, n.Interface)
}

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

func cloneCommand(c Command) Command {
	return Command{Shell: c.Shell, Argv: slices.Clone(c.Argv)}
}

// first returns the first set value, or def.
func first[T any](def T, vals ...*T) T {
	for _, v := range vals {
		if v != nil {
			return *v
		}
	}
	return def
}

// fieldOf returns the field from the first check that sets it.
func fieldOf[T any](levels []*Check, get func(*Check) *T) *T {
	for _, c := range levels {
		if v := get(c); v != nil {
			return v
		}
	}
	return nil
}

// sortedKeys lists a map's keys in order, so that results and errors do
// not depend on map order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

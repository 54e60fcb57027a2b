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

// Desired computes one node's desired state from a validated cluster.
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
// The cluster is assumed valid, but anything Desired cannot resolve (an
// unknown node, a reference to a missing group, an unparsable address) is
// an error naming the field, never a panic.
func Desired(c *Cluster, node string) (*NodeState, error) {
	if c == nil {
		return nil, fmt.Errorf("no cluster description")
	}
	n := c.Nodes[node]
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the cluster description (nodes: %s)", node, strings.Join(sortedKeys(c.Nodes), ", "))
	}
	r := &resolver{c: c, nodeName: node, node: n}
	r.loadDefaults()
	if err := r.resolveMembership(); err != nil {
		return nil, err
	}
	return r.nodeState()
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
	c        *Cluster
	nodeName string
	node     *Node

	vrrp       VRRPSettings
	garp       GARPSettings
	svc        ServiceDefaults
	check      *Check
	scriptUser string

	// priorities[group][node] for every group and member node.
	priorities map[string]map[string]int
	// vipGroup maps each VIP address to the group that moves it.
	vipGroup map[netip.Addr]string
	// syncGroupOf maps a VIP group to its sync group.
	syncGroupOf map[string]string
}

func (r *resolver) errf(path, format string, args ...any) error {
	return &Error{Pos: r.c.Sources.Lookup(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (r *resolver) loadDefaults() {
	d := r.c.Defaults
	if d == nil {
		return
	}
	if d.VRRP != nil {
		r.vrrp = *d.VRRP
		if d.VRRP.GARP != nil {
			r.garp = *d.VRRP.GARP
		}
	}
	if d.Service != nil {
		r.svc = *d.Service
	}
	r.check = d.Check
	r.scriptUser = d.ScriptUser
}

// resolveMembership computes every group's node priorities (services need
// other groups' members too) and the VIP and sync group indexes.
func (r *resolver) resolveMembership() error {
	orders, err := r.spreadOrders()
	if err != nil {
		return err
	}
	r.priorities = make(map[string]map[string]int, len(r.c.VIPGroups))
	r.vipGroup = map[netip.Addr]string{}
	for _, name := range sortedKeys(r.c.VIPGroups) {
		g := r.c.VIPGroups[name]
		if g == nil {
			return r.errf("vipGroups."+name, "empty VIP group")
		}
		p, err := r.groupPriorities(name, g, orders[name])
		if err != nil {
			return err
		}
		r.priorities[name] = p
		for i, v := range g.VIPs {
			pfx, err := parseVIP(v.Address)
			if err != nil {
				return r.errf(fmt.Sprintf("vipGroups.%s.vips[%d]", name, i), "%v", err)
			}
			if _, dup := r.vipGroup[pfx.Addr()]; !dup {
				r.vipGroup[pfx.Addr()] = name
			}
		}
	}
	r.syncGroupOf = map[string]string{}
	for _, sg := range sortedKeys(r.c.SyncGroups) {
		s := r.c.SyncGroups[sg]
		if s == nil {
			continue
		}
		for i, g := range s.Groups {
			if _, ok := r.c.VIPGroups[g]; !ok {
				return r.errf(fmt.Sprintf("syncGroups.%s.groups[%d]", sg, i), "no VIP group named %q", g)
			}
			if _, taken := r.syncGroupOf[g]; !taken {
				r.syncGroupOf[g] = sg
			}
		}
	}
	return nil
}

func (r *resolver) spreadOrders() (map[string][]string, error) {
	orders := map[string][]string{}
	setOf := map[string]string{}
	for _, name := range sortedKeys(r.c.Spread) {
		s := r.c.Spread[name]
		if s == nil {
			continue
		}
		for i, g := range s.Groups {
			path := fmt.Sprintf("spread.%s.groups[%d]", name, i)
			if _, ok := r.c.VIPGroups[g]; !ok {
				return nil, r.errf(path, "no VIP group named %q", g)
			}
			if other, ok := setOf[g]; ok && other != name {
				return nil, r.errf(path, "VIP group %q is already in spread set %q", g, other)
			}
			setOf[g] = name
		}
		for i, n := range s.Nodes {
			if _, ok := r.c.Nodes[n]; !ok {
				return nil, r.errf(fmt.Sprintf("spread.%s.nodes[%d]", name, i), "no node named %q", n)
			}
		}
		if len(s.Nodes) == 0 {
			return nil, r.errf("spread."+name+".nodes", "a spread set needs at least one node")
		}
		for g, o := range SpreadOrder(s.Groups, s.Nodes) {
			orders[g] = o
		}
	}
	return orders, nil
}

// groupPriorities resolves a group's member nodes and their priorities:
// from its spread order, its nodes list or its priorities map, then
// per-node overrides (which change priorities but never add members).
func (r *resolver) groupPriorities(name string, g *VIPGroup, spreadOrder []string) (map[string]int, error) {
	path := "vipGroups." + name
	out := map[string]int{}
	order, orderPath := g.Nodes, path+".nodes"
	if spreadOrder != nil {
		order, orderPath = spreadOrder, path
	}
	switch {
	case len(order) > 0:
		for i, p := range PreferencePriorities(len(order)) {
			if _, dup := out[order[i]]; dup {
				return nil, r.errf(orderPath, "node %q is listed twice", order[i])
			}
			out[order[i]] = p
		}
	case len(g.Priorities) > 0:
		for n, p := range g.Priorities {
			if p < 1 || p > OwnerPriority {
				return nil, r.errf(path+".priorities."+n, "priority %d is outside 1-255", p)
			}
			out[n] = p
		}
	default:
		return nil, r.errf(path, "no nodes: set nodes or priorities, or add the group to a spread set")
	}
	for n := range out {
		if _, ok := r.c.Nodes[n]; !ok {
			return nil, r.errf(orderPath, "no node named %q", n)
		}
	}
	for _, n := range sortedKeys(r.c.Nodes) {
		node := r.c.Nodes[n]
		if node == nil {
			continue
		}
		o := node.Overrides[name]
		if o == nil || o.Priority == nil {
			continue
		}
		if _, member := out[n]; !member {
			continue
		}
		if p := *o.Priority; p < 1 || p > OwnerPriority {
			return nil, r.errf(fmt.Sprintf("nodes.%s.overrides.%s.priority", n, name), "priority %d is outside 1-255", p)
		}
		out[n] = *o.Priority
	}
	return out, nil
}

func (r *resolver) nodeState() (*NodeState, error) {
	st := &NodeState{
		Cluster:    r.c.Name,
		Node:       r.nodeName,
		Interface:  r.node.Interface,
		Instances:  []Instance{},
		Services:   []VirtualService{},
		Checks:     []TrackCheckSpec{},
		SyncGroups: []SyncGroupSpec{},
	}
	var err error
	if st.Address, err = netip.ParseAddr(r.node.Address); err != nil || !st.Address.Is4() {
		return nil, r.errf("nodes."+r.nodeName+".address", "%q is not an IPv4 address", r.node.Address)
	}
	if r.node.Address6 != "" {
		if st.Address6, err = netip.ParseAddr(r.node.Address6); err != nil || !st.Address6.Is6() || st.Address6.Is4In6() {
			return nil, r.errf("nodes."+r.nodeName+".address6", "%q is not an IPv6 address", r.node.Address6)
		}
	}

	tracked := map[string]bool{}
	for _, name := range sortedKeys(r.c.VIPGroups) {
		if _, member := r.priorities[name][r.nodeName]; !member {
			continue
		}
		inst, err := r.instance(name, r.c.VIPGroups[name])
		if err != nil {
			return nil, err
		}
		for _, t := range inst.TrackChecks {
			tracked[t.Check] = true
		}
		st.Instances = append(st.Instances, inst)
	}
	for _, name := range sortedKeys(tracked) {
		st.Checks = append(st.Checks, r.trackCheck(name, r.c.Checks[name]))
	}
	for _, name := range sortedKeys(r.c.SyncGroups) {
		if sg := r.syncGroup(name, st.Instances); sg != nil {
			st.SyncGroups = append(st.SyncGroups, *sg)
		}
	}
	for _, name := range sortedKeys(r.c.Services) {
		vs, ok, err := r.service(name, r.c.Services[name])
		if err != nil {
			return nil, err
		}
		if ok {
			st.Services = append(st.Services, vs)
		}
	}
	return st, nil
}

func (r *resolver) instance(name string, g *VIPGroup) (Instance, error) {
	path := "vipGroups." + name
	inst := Instance{Name: name}
	if g.VRID < 1 || g.VRID > 255 {
		return inst, r.errf(path+".vrid", "vrid %d is outside 1-255", g.VRID)
	}
	inst.VRID = uint8(g.VRID)

	inst.Interface = groupInterface(r.node, name, g)

	if len(g.VIPs) == 0 {
		return inst, r.errf(path+".vips", "a VIP group needs at least one VIP")
	}
	for i, v := range g.VIPs {
		pfx, err := parseVIP(v.Address)
		if err != nil {
			return inst, r.errf(fmt.Sprintf("%s.vips[%d]", path, i), "%v", err)
		}
		fam := familyOf(pfx.Addr())
		if i == 0 {
			inst.Family = fam
		} else if fam != inst.Family {
			return inst, r.errf(fmt.Sprintf("%s.vips[%d]", path, i), "%s is %s but the group's first VIP is %s; use one group per family", v.Address, fam, inst.Family)
		}
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
	slices.SortFunc(inst.Preference, func(a, b NodePriority) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Node, b.Node))
	})

	inst.AdvertInterval = first(Duration(DefaultAdvertInterval), g.AdvertInterval, r.vrrp.AdvertInterval).D()
	inst.Preempt = first(DefaultPreempt, g.Preempt, r.vrrp.Preempt)
	inst.PreemptDelay = first(Duration(DefaultPreemptDelay), g.PreemptDelay, r.vrrp.PreemptDelay).D()
	inst.Unicast = first(DefaultUnicast, g.Unicast, r.vrrp.Unicast)

	var garp GARPSettings
	if g.GARP != nil {
		garp = *g.GARP
	}
	inst.GARP = GARPSpec{
		Repeat:       first(DefaultGARPRepeat, garp.Repeat, r.garp.Repeat),
		Interval:     first(Duration(DefaultGARPInterval), garp.Interval, r.garp.Interval).D(),
		RefreshDelay: first(Duration(DefaultGARPRefreshDelay), garp.RefreshDelay, r.garp.RefreshDelay).D(),
	}

	if err := r.unicast(&inst, path, prios); err != nil {
		return inst, err
	}

	if g.Auth != nil {
		a := *g.Auth
		inst.Auth = &a
	}
	if len(g.TrackInterfaces) > 0 {
		inst.TrackInterfaces = slices.Clone(g.TrackInterfaces)
		slices.SortFunc(inst.TrackInterfaces, func(a, b TrackInterface) int { return cmp.Compare(a.Interface, b.Interface) })
	}
	for i, ref := range g.TrackChecks {
		chk := r.c.Checks[ref.Check]
		if chk == nil {
			return inst, r.errf(fmt.Sprintf("%s.trackChecks[%d].check", path, i), "no check named %q", ref.Check)
		}
		inst.TrackChecks = append(inst.TrackChecks, TrackedCheck{Check: ref.Check, Weight: first(chk.Weight, ref.Weight)})
	}
	slices.SortFunc(inst.TrackChecks, func(a, b TrackedCheck) int { return cmp.Compare(a.Check, b.Check) })
	inst.Notify = r.notify(g.Notify)
	inst.SyncGroup = r.syncGroupOf[name]
	return inst, nil
}

// unicast fills the source address and, for unicast groups, the peers:
// every other member's address in the group's family.
func (r *resolver) unicast(inst *Instance, path string, members map[string]int) error {
	addrOf := func(n string) (netip.Addr, error) {
		node := r.c.Nodes[n]
		field, s := "address", node.Address
		if inst.Family == IPv6 {
			field, s = "address6", node.Address6
		}
		a, err := netip.ParseAddr(s)
		if err != nil || familyOf(a) != inst.Family || a.Is4In6() {
			return netip.Addr{}, r.errf(fmt.Sprintf("nodes.%s.%s", n, field), "node %q needs an %s %s for %s group %q", n, inst.Family, field, map[bool]string{true: "unicast", false: "multicast"}[inst.Unicast], inst.Name)
		}
		return a, nil
	}
	if inst.Family == IPv4 || inst.Unicast {
		a, err := addrOf(r.nodeName)
		if err != nil {
			return err
		}
		inst.SourceAddress = a
	}
	if !inst.Unicast {
		return nil
	}
	for _, n := range sortedKeys(members) {
		if n == r.nodeName {
			continue
		}
		a, err := addrOf(n)
		if err != nil {
			return err
		}
		inst.Peers = append(inst.Peers, a)
	}
	slices.SortFunc(inst.Peers, netip.Addr.Compare)
	return nil
}

func (r *resolver) notify(n *Notify) NotifySpec {
	if n == nil {
		n = &Notify{}
	}
	return NotifySpec{
		Master:  cloneCommand(n.Master),
		Backup:  cloneCommand(n.Backup),
		Fault:   cloneCommand(n.Fault),
		Stop:    cloneCommand(n.Stop),
		Timeout: first(Duration(DefaultNotifyTimeout), n.Timeout).D(),
		User:    cmp.Or(n.User, r.scriptUser),
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
		User:     cmp.Or(t.User, r.scriptUser),
	}
	spec.Timeout = first(Duration(spec.Interval), t.Timeout).D()
	return spec
}

// syncGroup returns the sync group with the instances this node runs, or
// nil when the node runs none of its groups.
func (r *resolver) syncGroup(name string, instances []Instance) *SyncGroupSpec {
	s := r.c.SyncGroups[name]
	if s == nil {
		return nil
	}
	var members []string
	for _, g := range s.Groups {
		if r.syncGroupOf[g] != name {
			continue
		}
		if _, ok := slices.BinarySearchFunc(instances, g, func(i Instance, g string) int { return cmp.Compare(i.Name, g) }); ok {
			members = append(members, g)
		}
	}
	if len(members) == 0 {
		return nil
	}
	slices.Sort(members)
	return &SyncGroupSpec{Name: name, Instances: slices.Compact(members), Notify: r.notify(s.Notify)}
}

// service resolves one virtual service and reports whether this node
// programs it: when the node is a member of the service's VIP group, or
// always for a fwmark service without a group.
func (r *resolver) service(name string, s *Service) (VirtualService, bool, error) {
	path := "services." + name
	vs := VirtualService{Name: name}
	if s == nil {
		return vs, false, r.errf(path, "empty service")
	}
	switch {
	case s.FWMark != 0:
		if s.FWMark < 0 || int64(s.FWMark) > 1<<32-1 {
			return vs, false, r.errf(path+".fwmark", "fwmark %d is outside 1-4294967295", s.FWMark)
		}
		vs.FWMark = uint32(s.FWMark)
		vs.Group = s.Group
		if s.Group != "" {
			if _, ok := r.c.VIPGroups[s.Group]; !ok {
				return vs, false, r.errf(path+".group", "no VIP group named %q", s.Group)
			}
		}
		vs.Family = cmp.Or(s.Family, IPv4)
		var err error
		if vs.Match, err = resolveMatch(s.Match); err != nil {
			return vs, false, r.errf(path+".match", "%v", err)
		}
	case s.VIP != "":
		a, err := netip.ParseAddr(s.VIP)
		if err != nil {
			return vs, false, r.errf(path+".vip", "%q is not an IP address (write the VIP without prefix length)", s.VIP)
		}
		g, ok := r.vipGroup[a]
		if !ok {
			return vs, false, r.errf(path+".vip", "%s is not a VIP of any VIP group", a)
		}
		if s.Port < 0 || s.Port > 65535 {
			return vs, false, r.errf(path+".port", "port %d is outside 0-65535", s.Port)
		}
		vs.Group, vs.Address, vs.Family, vs.Port = g, a, familyOf(a), uint16(s.Port)
		vs.Protocol = cmp.Or(s.Protocol, r.svc.Protocol, DefaultProtocol)
	default:
		return vs, false, r.errf(path, "a service needs a vip and port, or a fwmark")
	}
	if vs.Group != "" {
		if _, member := r.priorities[vs.Group][r.nodeName]; !member {
			return vs, false, nil
		}
	}

	vs.Scheduler = cmp.Or(s.Scheduler, r.svc.Scheduler, DefaultScheduler)
	if len(s.SchedulerFlags) > 0 {
		vs.SchedulerFlags = slices.Clone(s.SchedulerFlags)
		slices.Sort(vs.SchedulerFlags)
	}
	vs.Forwarding = cmp.Or(s.Forwarding, r.svc.Forwarding, DefaultForwarding)
	if p := cmp.Or(s.Persistence, r.svc.Persistence); p != nil {
		vs.Persistence = p.Timeout.D()
		mask, err := persistenceMask(p.Netmask, vs.Family)
		if err != nil {
			mpath := path + ".persistence.netmask"
			if s.Persistence == nil {
				mpath = "defaults.service.persistence.netmask"
			}
			return vs, false, r.errf(mpath, "%v", err)
		}
		vs.PersistenceMask = mask
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
	for i, rs := range s.RealServers {
		spec, err := r.realServer(indexPath{path, "realServers", i}, &rs, vs)
		if err != nil {
			return vs, false, err
		}
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
		spec, err := r.realServer(indexPath{path, "sorryServer", -1}, s.SorryServer, vs)
		if err != nil {
			return vs, false, err
		}
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
	return vs, true, nil
}

// realServer resolves a real or sorry server at path ip.
func (r *resolver) realServer(ip indexPath, rs *RealServer, vs VirtualService) (RealServerSpec, error) {
	a, err := netip.ParseAddr(rs.Address)
	if err != nil {
		return RealServerSpec{}, r.errf(ip.String()+".address", "%q is not an IP address", rs.Address)
	}
	if rs.Port < 0 || rs.Port > 65535 {
		return RealServerSpec{}, r.errf(ip.String()+".port", "port %d is outside 0-65535", rs.Port)
	}
	if rs.UpperThreshold < 0 || rs.LowerThreshold < 0 {
		return RealServerSpec{}, r.errf(ip.String(), "connection thresholds cannot be negative")
	}
	spec := RealServerSpec{
		Address:        a,
		Port:           uint16(rs.Port),
		Weight:         first(DefaultWeight, rs.Weight),
		UpperThreshold: uint32(rs.UpperThreshold),
		LowerThreshold: uint32(rs.LowerThreshold),
	}
	if spec.Port == 0 {
		spec.Port = vs.Port
	}
	return spec, nil
}

// healthCheck resolves a real server's check. Of the levels (server,
// service, defaults.check), the most specific one with a type block
// supplies the type and the port, so `check: {interval: 2s}` on a service
// keeps the type the defaults chose; each timing field comes from the
// most specific level that sets it, then the built-in default. With no
// type block anywhere the check is TCP connect. `none` gives nil. Port 0
// in the result means "the real server's port".
func (r *resolver) healthCheck(server, service *Check) *CheckSpec {
	var buf [3]*Check
	levels := buf[:0]
	for _, c := range [...]*Check{server, service, r.check} {
		if c != nil {
			levels = append(levels, c)
		}
	}
	spec := &CheckSpec{Type: "tcp"}
	// The port belongs with the type block (a service's tcp check on 9000
	// says nothing about a server's https override); untyped levels may
	// still name one for the default TCP check.
	for _, c := range levels {
		if c.Port != 0 {
			spec.Port = uint16(c.Port)
			break
		}
	}
	if c := typedLevel(levels); c != nil {
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
			e.User = cmp.Or(e.User, r.scriptUser)
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

// typedLevel returns the most specific check that names a type.
func typedLevel(levels []*Check) *Check {
	for _, c := range levels {
		if c.hasType() {
			return c
		}
	}
	return nil
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

// persistenceMask turns a netmask setting into a prefix length: an IPv4
// dotted mask (255.255.255.0 → 24) or a prefix length; empty means the
// whole address (32 or 128).
func persistenceMask(s string, fam Family) (int, error) {
	full := 32
	if fam == IPv6 {
		full = 128
	}
	if s == "" {
		return full, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > full {
			return 0, fmt.Errorf("prefix length %d is outside 0-%d", n, full)
		}
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || fam != IPv4 {
		return 0, fmt.Errorf("%q is not a netmask: write 255.255.255.0 (IPv4) or a prefix length", s)
	}
	ones := maskBits(a)
	if ones < 0 {
		return 0, fmt.Errorf("netmask %s is not contiguous", s)
	}
	return ones, nil
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

// parseVIP accepts an address with or without prefix length; without, the
// VIP is a host address (/32 or /128).
func parseVIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address with prefix length", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
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

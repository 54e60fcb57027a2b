package clusterdiff

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// Diff is what a change of the description does to every node and to
// the cluster.
type Diff struct {
	// Old and New name the revisions compared (a Git ref and its commit,
	// or a path).
	Old, New string
	// Nodes lists every node of either revision, by name.
	Nodes []NodeDiff
	// VIPMoves are the VIPs whose holder changes once the cluster has
	// settled on the new revision, every node healthy.
	VIPMoves []VIPMove
	// Services are the IPVS services created, deleted, recreated or whose
	// real servers change.
	Services []ServiceChange
	// Recreated are VIP groups whose virtual router is replaced rather
	// than reconfigured: their VIPs go down for a master-down interval.
	Recreated []GroupRecreation
	// BGP lists the groups announced over BGP in either revision whose
	// announcements change (they have no master to move).
	BGP []BGPChange
	// Notes are what a reviewer should know that moves nothing by itself.
	Notes []string
}

// NodeStatus says how a node fares in a change.
type NodeStatus string

const (
	NodeChanged   NodeStatus = "changed"
	NodeUnchanged NodeStatus = "unchanged"
	// NodeAdded is a node only the new revision has; NodeRemoved one only
	// the old revision has (its plan destroys what it ran).
	NodeAdded   NodeStatus = "added"
	NodeRemoved NodeStatus = "removed"
)

// NodeDiff is one node's plan between the revisions.
type NodeDiff struct {
	Node   string
	Status NodeStatus
	Plan   *plan.Plan
}

// MarshalJSON writes node, status, summary and changes, in that order.
func (n NodeDiff) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Node    string        `json:"node"`
		Status  NodeStatus    `json:"status"`
		Summary plan.Summary  `json:"summary"`
		Changes []plan.Change `json:"changes"`
	}{n.Node, n.Status, n.Plan.Summary(), orEmpty(n.Plan.Changes)})
}

// Reason says why a VIP changes holder.
type Reason string

const (
	// ReasonPriority: the members' priorities (or tracked weights) changed.
	ReasonPriority Reason = "priority"
	// ReasonSpread: the spread set computing the group's order changed.
	ReasonSpread Reason = "spread"
	// ReasonMembership: the old holder left the group or the new one joined.
	ReasonMembership Reason = "membership"
	// ReasonGroup: the VIP moved to another VIP group.
	ReasonGroup Reason = "group"
	// ReasonAdded and ReasonRemoved: the VIP is new, or gone.
	ReasonAdded   Reason = "added"
	ReasonRemoved Reason = "removed"
)

// VIPMove is VIPs of one group that change holder for one reason.
type VIPMove struct {
	// Group is the VIP group in the new revision (the old one's for a
	// removed VIP).
	Group string   `json:"group"`
	VIPs  []string `json:"vips"`
	// From and To are the holders; empty is none.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail"`
}

// ServiceChange is what happens to one IPVS service across the cluster.
type ServiceChange struct {
	Service string `json:"service"`
	// Name is the service as IPVS knows it: "tcp 192.0.2.10:80".
	Name string `json:"name"`
	// Action is create, delete, update (in place) or recreate: deleted and
	// created again, which resets its connections.
	Action string `json:"action"`
	// Identity lists the fields that force a recreation: family,
	// protocol, address, port, fwmark.
	Identity []plan.FieldChange `json:"identity,omitempty"`
	Added    []string           `json:"added,omitempty"`
	Removed  []string           `json:"removed,omitempty"`
	// Drained are real servers whose weight goes to 0: they keep their
	// connections but get no new ones. Undrained go back from 0.
	Drained   []string           `json:"drained,omitempty"`
	Undrained []string           `json:"undrained,omitempty"`
	Weights   []plan.FieldChange `json:"weights,omitempty"`
	// WeightMoved is the share of new connections, in percent, that go
	// to another real server than before (half the sum of the changes of
	// every server's share of the weight).
	WeightMoved float64 `json:"weightMoved"`
}

// GroupRecreation is a VIP group whose wire identity changes.
type GroupRecreation struct {
	Group  string             `json:"group"`
	Fields []plan.FieldChange `json:"fields"`
	// Outage is the master-down interval of the group's new master: how
	// long its VIPs may be held by nobody.
	Outage time.Duration `json:"-"`
}

// MarshalJSON writes the outage as a duration string ("3.609s").
func (g GroupRecreation) MarshalJSON() ([]byte, error) {
	type plain GroupRecreation
	return json.Marshal(struct {
		plain
		Outage string `json:"outage"`
	}{plain(g), g.Outage.String()})
}

// Summary counts what a diff shows.
type Summary struct {
	NodesChanged      int `json:"nodesChanged"`
	NodesUnchanged    int `json:"nodesUnchanged"`
	VIPMoves          int `json:"vipMoves"`
	ServicesRecreated int `json:"servicesRecreated"`
	GroupsRecreated   int `json:"groupsRecreated"`
	plan.Summary
}

// Summary counts the diff.
func (d *Diff) Summary() Summary {
	var s Summary
	for _, n := range d.Nodes {
		ps := n.Plan.Summary()
		s.Add, s.Change, s.Destroy = s.Add+ps.Add, s.Change+ps.Change, s.Destroy+ps.Destroy
		if n.Status == NodeUnchanged {
			s.NodesUnchanged++
		} else {
			s.NodesChanged++
		}
	}
	for _, m := range d.VIPMoves {
		s.VIPMoves += len(m.VIPs)
	}
	for _, sc := range d.Services {
		if sc.Action == "recreate" {
			s.ServicesRecreated++
		}
	}
	s.GroupsRecreated = len(d.Recreated)
	return s
}

// HasChanges reports whether any node would change anything.
func (d *Diff) HasChanges() bool { return !d.Summary().Summary.Empty() }

// Unchanged lists the nodes the change leaves alone.
func (d *Diff) Unchanged() []string {
	var out []string
	for _, n := range d.Nodes {
		if n.Status == NodeUnchanged {
			out = append(out, n.Node)
		}
	}
	return out
}

// MarshalJSON writes the machine format: version, revisions, summary,
// then the cluster-level lists ([] when empty) and the nodes.
func (d *Diff) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		FormatVersion int               `json:"formatVersion"`
		Old           string            `json:"old"`
		New           string            `json:"new"`
		Summary       Summary           `json:"summary"`
		VIPMoves      []VIPMove         `json:"vipMoves"`
		Services      []ServiceChange   `json:"services"`
		Recreated     []GroupRecreation `json:"groupsRecreated"`
		BGP           []BGPChange       `json:"bgp"`
		Unchanged     []string          `json:"unchangedNodes"`
		Notes         []string          `json:"notes"`
		Nodes         []NodeDiff        `json:"nodes"`
	}{FormatVersion, d.Old, d.New, d.Summary(), orEmpty(d.VIPMoves), orEmpty(d.Services), orEmpty(d.Recreated),
		orEmpty(d.BGP), orEmpty(d.Unchanged()), orEmpty(d.Notes), orEmpty(d.Nodes)})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Compare reviews the change from old to new, both valid descriptions
// (Validate's errors are returned otherwise), named oldName and newName.
func Compare(old, new *model.Cluster, oldName, newName string) (*Diff, error) {
	ov, err := resolve(old)
	if err != nil {
		return nil, err
	}
	nv, err := resolve(new)
	if err != nil {
		return nil, err
	}
	d := &Diff{Old: oldName, New: newName}
	nodes := sortedSet(append(slices.Clone(ov.nodes), nv.nodes...))
	for _, n := range nodes {
		o, nw := ov.states[n], nv.states[n]
		nd := NodeDiff{Node: n, Plan: plan.Between(o, nw)}
		switch {
		case o == nil:
			nd.Status = NodeAdded
		case nw == nil:
			nd.Status = NodeRemoved
		case nd.Plan.HasChanges():
			nd.Status = NodeChanged
		default:
			nd.Status = NodeUnchanged
		}
		d.Nodes = append(d.Nodes, nd)
	}
	d.vipMoves(ov, nv)
	d.syncGroupNotes(nv)
	d.groupRecreations(ov, nv)
	d.bgpChanges(ov, nv)
	d.services(ov, nv)
	return d, nil
}

// vipMoves finds every VIP whose settled holder differs between the
// revisions, and why.
func (d *Diff) vipMoves(ov, nv *view) {
	og, ng := ov.vipGroups(), nv.vipGroups()
	both := maps.Clone(og)
	maps.Copy(both, ng)
	noted := map[string]bool{}
	for _, a := range slices.SortedFunc(maps.Keys(both), netip.Addr.Compare) {
		o, inOld := og[a]
		n, inNew := ng[a]
		if inOld && ov.isBGP(o.group) || inNew && nv.isBGP(n.group) {
			continue // no master: BGP lists who announces
		}
		var m VIPMove
		switch {
		case !inOld:
			m = VIPMove{Group: n.group, VIPs: []string{n.prefix.String()}, To: nv.master(n.group), Reason: ReasonAdded,
				Detail: "new VIP of group " + n.group}
		case !inNew:
			m = VIPMove{Group: o.group, VIPs: []string{o.prefix.String()}, From: ov.master(o.group), Reason: ReasonRemoved,
				Detail: "VIP no longer described"}
		default:
			from, to := ov.master(o.group), d.holderAfter(ov, nv, n.group, noted)
			if from == to {
				continue
			}
			m = VIPMove{Group: n.group, VIPs: []string{n.prefix.String()}, From: from, To: to}
			if o.group != n.group {
				m.Reason, m.Detail = ReasonGroup, "moved from group "+o.group+" to group "+n.group
			} else {
				m.Reason, m.Detail = why(ov, nv, n.group, from, to)
			}
		}
		// Merge with an identical move of the group wherever it is: a
		// group's VIPs may interleave with another's in address order.
		if k := slices.IndexFunc(d.VIPMoves, func(o VIPMove) bool {
			return o.Group == m.Group && o.From == m.From && o.To == m.To && o.Reason == m.Reason && o.Detail == m.Detail
		}); k >= 0 {
			d.VIPMoves[k].VIPs = append(d.VIPMoves[k].VIPs, m.VIPs...)
			continue
		}
		d.VIPMoves = append(d.VIPMoves, m)
	}
	slices.SortStableFunc(d.VIPMoves, func(a, b VIPMove) int { return cmp.Compare(a.Group, b.Group) })
}

// syncGroupNotes warns of sync groups whose members would elect
// different masters: the engine moves a sync group's members together,
// so which node ends up holding them is not the plain election's result
// diff predicts.
func (d *Diff) syncGroupNotes(nv *view) {
	for _, name := range slices.Sorted(maps.Keys(nv.c.SyncGroups)) {
		sg := nv.c.SyncGroups[name]
		if sg == nil {
			continue
		}
		var masters, elected []string
		for _, g := range sortedSet(sg.Groups) {
			masters = append(masters, nv.master(g))
			elected = append(elected, g+" on "+nv.master(g))
		}
		if len(sortedSet(masters)) > 1 {
			d.Notes = append(d.Notes, fmt.Sprintf("sync group %s: its members elect different masters (%s) but fail over together, so where they settle is not predicted here",
				name, strings.Join(elected, ", ")))
		}
	}
}

// holderAfter is who holds group's VIPs after the change: the new
// election's winner, except that with preempt off a master that keeps
// running the same virtual router (reconfigured in place) stays master.
func (d *Diff) holderAfter(ov, nv *view, group string, noted map[string]bool) string {
	best := nv.master(group)
	cur := ov.master(group)
	if cur == best || cur == "" {
		return best
	}
	curNew := memberOf(nv.members(group), cur)
	curOld := memberOf(ov.members(group), cur)
	if curNew == nil || curOld == nil || curNew.inst.Preempt || curNew.inst.Key() != curOld.inst.Key() {
		return best
	}
	if !noted[group] {
		noted[group] = true
		d.Notes = append(d.Notes, fmt.Sprintf("group %s: %s now wins an election (priority %d), but preempt is off: %s keeps the VIPs until it fails or gives them up",
			group, best, memberOf(nv.members(group), best).prio, cur))
	}
	return cur
}

func memberOf(ms []member, node string) *member {
	for i := range ms {
		if ms[i].node == node {
			return &ms[i]
		}
	}
	return nil
}

// why explains a change of holder within one group.
func why(ov, nv *view, group, from, to string) (Reason, string) {
	if detail := spreadChange(ov.c, nv.c, group); detail != "" {
		return ReasonSpread, detail
	}
	om, nm := ov.members(group), nv.members(group)
	if from != "" && memberOf(nm, from) == nil {
		return ReasonMembership, from + " is no longer a member of the group"
	}
	if to != "" && memberOf(om, to) == nil {
		return ReasonMembership, to + " joined the group"
	}
	if to == "" {
		return ReasonMembership, "no node runs the group any more"
	}
	t, f := memberOf(nm, to), memberOf(nm, from)
	detail := fmt.Sprintf("%s %d > %s %d", to, t.prio, from, f.prio)
	if t.prio == f.prio {
		detail = fmt.Sprintf("%s and %s both %d, the higher address wins", to, from, t.prio)
	}
	return ReasonPriority, fmt.Sprintf("%s (was %s %d, %s %d)", detail, to, memberOf(om, to).prio, from, memberOf(om, from).prio)
}

// spreadChange describes how the spread set ordering group changed, or
// returns "" when it did not.
func spreadChange(old, new *model.Cluster, group string) string {
	on, os := spreadOf(old, group)
	nn, ns := spreadOf(new, group)
	switch {
	case os == nil && ns == nil:
		return ""
	case os == nil:
		return "the group joined spread set " + nn
	case ns == nil:
		return "the group left spread set " + on
	}
	var parts []string
	if a, b := sortedSet(os.Nodes), sortedSet(ns.Nodes); !slices.Equal(a, b) {
		parts = append(parts, "nodes "+strings.Join(a, ", ")+" -> "+strings.Join(b, ", "))
	}
	if a, b := sortedSet(os.Groups), sortedSet(ns.Groups); !slices.Equal(a, b) {
		parts = append(parts, "groups "+strings.Join(a, ", ")+" -> "+strings.Join(b, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "set " + nn + ": " + strings.Join(parts, "; ")
}

func spreadOf(c *model.Cluster, group string) (string, *model.SpreadSet) {
	for _, name := range slices.Sorted(maps.Keys(c.Spread)) {
		if s := c.Spread[name]; s != nil && slices.Contains(s.Groups, group) {
			return name, s
		}
	}
	return "", nil
}

func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// groupRecreations finds groups whose virtual router changes identity on
// its new master (interface, family or VRID): the engine stops the old
// one and starts the new one in backup, so its VIPs wait out a
// master-down interval.
func (d *Diff) groupRecreations(ov, nv *view) {
	for _, g := range slices.Sorted(maps.Keys(nv.c.VIPGroups)) {
		nm := nv.members(g)
		if len(nm) == 0 {
			continue
		}
		om := memberOf(ov.members(g), nm[0].node)
		if om == nil || om.inst.Key() == nm[0].inst.Key() {
			continue
		}
		n := nm[0].inst
		d.Recreated = append(d.Recreated, GroupRecreation{Group: g, Fields: plan.InstanceIdentity(om.inst, n), Outage: masterDown(n, nm[0].prio)})
	}
}

// masterDown is RFC 5798's Master_Down_Interval for a backup of
// priority prio: 3 advert intervals plus the skew, (256-prio)/256 of an
// interval (VRRPv2, RFC 3768: of a second), as vrrpd times it.
func masterDown(in *model.Instance, prio int) time.Duration {
	return 3*in.AdvertInterval + skew(in, prio)
}

func skew(in *model.Instance, prio int) time.Duration {
	unit := in.AdvertInterval
	if in.Version == 2 {
		unit = time.Second
	}
	return time.Duration(256-prio) * unit / 256
}

// services lists what changes for the IPVS services of the cluster.
func (d *Diff) services(ov, nv *view) {
	names := sortedSet(append(ov.serviceNames(), nv.serviceNames()...))
	for _, name := range names {
		o, n := ov.service(name), nv.service(name)
		switch {
		case o == nil:
			d.Services = append(d.Services, ServiceChange{Service: name, Name: plan.ServiceName(n), Action: "create", Added: realServers(n.RealServers)})
			continue
		case n == nil:
			d.Services = append(d.Services, ServiceChange{Service: name, Name: plan.ServiceName(o), Action: "delete", Removed: realServers(o.RealServers)})
			continue
		}
		sc := ServiceChange{Service: name, Name: plan.ServiceName(n), Action: "update", Identity: plan.ServiceIdentity(o, n)}
		if sc.Identity != nil {
			sc.Action = "recreate"
		}
		ow, nw := map[string]int{}, map[string]int{}
		for _, rs := range o.RealServers {
			ow[plan.RealServerName(&rs)] = rs.Weight
		}
		for _, rs := range n.RealServers {
			k := plan.RealServerName(&rs)
			nw[k] = rs.Weight
			w, had := ow[k]
			switch {
			case !had:
				sc.Added = append(sc.Added, k)
			case w > 0 && rs.Weight == 0:
				sc.Drained = append(sc.Drained, k)
			case w == 0 && rs.Weight > 0:
				sc.Undrained = append(sc.Undrained, k)
			case w != rs.Weight:
				sc.Weights = append(sc.Weights, plan.FieldChange{Name: k, Old: fmt.Sprint(w), New: fmt.Sprint(rs.Weight)})
			}
		}
		for _, rs := range o.RealServers {
			k := plan.RealServerName(&rs)
			if _, kept := nw[k]; !kept {
				sc.Removed = append(sc.Removed, k)
			}
		}
		sc.WeightMoved = weightMoved(ow, nw, o.Scheduler, n.Scheduler)
		if sc.Action == "update" && sc.Added == nil && sc.Removed == nil && sc.Drained == nil && sc.Undrained == nil && sc.Weights == nil && sc.WeightMoved == 0 {
			continue
		}
		d.Services = append(d.Services, sc)
	}
}

func realServers(rs []model.RealServerSpec) []string {
	var out []string
	for i := range rs {
		out = append(out, plan.RealServerName(&rs[i]))
	}
	return out
}

// weightMoved is the share of new connections, in percent to one
// decimal, sent to another real server than before. Schedulers that
// ignore weights (rr, lc) count every server of weight above 0 alike. A
// service going from no weight at all to some (or back) moves all of it.
func weightMoved(old, new map[string]int, oldSched, newSched string) float64 {
	os, ns := shares(old, oldSched), shares(new, newSched)
	if (len(os) == 0) != (len(ns) == 0) {
		return 100
	}
	// shares holds only servers with a share: one missing from os is new.
	sum := 0.0
	for k, v := range os {
		sum += math.Abs(ns[k] - v)
	}
	for k, v := range ns {
		if os[k] == 0 {
			sum += v
		}
	}
	return math.Round(sum/2*1000) / 10
}

// shares is each real server's share of the weight; empty when the
// weights add up to nothing.
func shares(w map[string]int, sched string) map[string]float64 {
	total := 0
	eff := map[string]int{}
	for k, v := range w {
		if v > 0 && (sched == "rr" || sched == "lc") {
			v = 1
		}
		eff[k] = v
		total += v
	}
	out := map[string]float64{}
	for k, v := range eff {
		if total > 0 && v > 0 {
			out[k] = float64(v) / float64(total)
		}
	}
	return out
}

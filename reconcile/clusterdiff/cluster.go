// Package clusterdiff reviews a change of a cluster description for every
// node at once, offline: Compare lists each node's plan between two
// revisions and, on top, what the change does to the cluster (which VIPs
// change master and why, which real servers come and go, which IPVS
// services are recreated); Simulate answers "what if these nodes, checks
// or real servers fail". Both are pure: they read only the descriptions.
// The JSON forms of Diff and Simulation are the machine formats of
// `hakeeper diff --json` and `hakeeper simulate --json` and are kept
// stable (FormatVersion).
package clusterdiff

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"github.com/hakeeper/hakeeper/model"
)

// FormatVersion is the version of the JSON formats. It changes only when
// a field is removed or changes meaning; new fields may appear.
const FormatVersion = 1

// view is one revision resolved for every node.
type view struct {
	c      *model.Cluster
	states map[string]*model.NodeState
	nodes  []string // sorted
}

// resolve computes every node's desired state; c must be valid (Desired
// returns Validate's errors otherwise).
func resolve(c *model.Cluster) (*view, error) {
	v := &view{c: c, states: map[string]*model.NodeState{}, nodes: slices.Sorted(maps.Keys(c.Nodes))}
	for _, n := range v.nodes {
		st, err := model.Desired(c, n)
		if err != nil {
			return nil, err
		}
		v.states[n] = st
	}
	return v, nil
}

// member is one node of a VIP group with what decides the election.
type member struct {
	node string
	inst *model.Instance
	// prio is the node's priority as the engine computes it: every
	// tracked link and check healthy, or in simulate what failed.
	prio int
	addr netip.Addr
}

// members lists the nodes running group, in election order: the one an
// election makes master first (highest priority, then the higher
// address, RFC 5798 section 6.4.3).
func (v *view) members(group string) []member {
	var out []member
	for _, n := range v.nodes {
		st := v.states[n]
		i := slices.IndexFunc(st.Instances, func(in model.Instance) bool { return in.Name == group })
		if i < 0 {
			continue
		}
		in := &st.Instances[i]
		addr := in.SourceAddress
		if !addr.IsValid() {
			// IPv6 multicast adverts come from the link-local address,
			// which the description does not know: the node's address6
			// stands for it.
			addr = st.Address6
		}
		out = append(out, member{node: n, inst: in, prio: priority(in, nil), addr: addr})
	}
	slices.SortStableFunc(out, electionOrder)
	return out
}

// electionOrder puts the member an election makes master first.
func electionOrder(a, b member) int {
	return cmp.Or(cmp.Compare(b.prio, a.prio), b.addr.Compare(a.addr))
}

// priority is an instance's effective priority by vrrpd's tracking
// rules, its tracked links up and only the checks named in failing
// down: a positive weight counts while its check passes, a negative one
// while it fails; clamped to 1..254; an address owner stays at 255.
func priority(in *model.Instance, failing map[string]bool) int {
	if in.Priority == model.OwnerPriority {
		return model.OwnerPriority
	}
	p := int(in.Priority)
	for _, t := range in.TrackInterfaces {
		p += max(t.Weight, 0)
	}
	for _, t := range in.TrackChecks {
		if up := !failing[t.Check]; (t.Weight > 0) == up {
			p += t.Weight
		}
	}
	return min(max(p, 1), 254)
}

// master is the node that holds group's VIPs once the cluster has
// settled on this revision with every node healthy ("" when no node runs
// the group).
func (v *view) master(group string) string {
	if m := v.members(group); len(m) > 0 {
		return m[0].node
	}
	return ""
}

func bgpGroups(st *model.NodeState) []model.BGPGroup {
	if st.BGP == nil {
		return nil
	}
	return st.BGP.Groups
}

// vipGroups maps every VIP address to its group and its prefix as written.
func (v *view) vipGroups() map[netip.Addr]vipOf {
	out := map[netip.Addr]vipOf{}
	for _, st := range v.states {
		for _, in := range st.Instances {
			for _, vip := range in.VIPs {
				out[vip.Prefix.Addr()] = vipOf{group: in.Name, prefix: vip.Prefix}
			}
		}
		for _, g := range bgpGroups(st) {
			for _, p := range g.VIPs {
				out[p.Addr()] = vipOf{group: g.Name, prefix: p}
			}
		}
	}
	return out
}

type vipOf struct {
	group  string
	prefix netip.Prefix
}

// service returns a service as resolved on the first node programming it
// (every such node resolves it alike), or nil.
func (v *view) service(name string) *model.VirtualService {
	for _, n := range v.nodes {
		st := v.states[n]
		if i := slices.IndexFunc(st.Services, func(s model.VirtualService) bool { return s.Name == name }); i >= 0 {
			return &st.Services[i]
		}
	}
	return nil
}

// serviceNames lists every service some node programs, sorted.
func (v *view) serviceNames() []string {
	set := map[string]bool{}
	for _, st := range v.states {
		for _, s := range st.Services {
			set[s.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

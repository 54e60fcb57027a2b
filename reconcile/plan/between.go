package plan

import (
	"slices"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
)

// Between computes the changes that take a node from one desired state
// to another, as a daemon that applied old faithfully would make them to
// reach new: `hakeeper diff`'s per-node plan, without a kernel. old nil
// is a node the old revision did not have (everything is created), new
// nil one the new revision drops (everything is destroyed).
func Between(old, new *model.NodeState) *Plan {
	if new == nil {
		new = &model.NodeState{Node: old.Node}
	}
	live := &Live{}
	var oldRole *model.RealServerRole
	if old != nil {
		live = &Live{Instances: old.Instances, Services: old.Services, Checks: old.Checks, SyncGroups: old.SyncGroups}
		oldRole = old.RealServer
	}
	live.RealServer = roleOps(oldRole, new.RealServer)
	return Diff(new, live)
}

// roleOps lists what the realserver programmer would write to go from one
// real-server role to another: sysctls set, VIPs added, VIPs removed,
// sysctls restored. Links are left out: whether one must be brought up
// is the kernel's state, not the description's.
func roleOps(old, new *model.RealServerRole) *realserver.Plan {
	var o, n model.RealServerRole
	if old != nil {
		o = *old
	}
	if new != nil {
		n = *new
	}
	p := &realserver.Plan{}
	was := map[string]string{}
	for _, s := range o.Sysctls {
		was[s.Name] = s.Value
	}
	for _, s := range n.Sysctls {
		if v, ok := was[s.Name]; !ok || v != s.Value {
			p.Ops = append(p.Ops, realserver.Op{Kind: realserver.SetSysctl, Name: s.Name, Old: v, New: s.Value})
		}
	}
	addrs := func(r model.RealServerRole) []realserver.Addr {
		var out []realserver.Addr
		for _, v := range r.VIPs {
			out = append(out, realserver.Addr{Device: v.Device, Prefix: v.Prefix})
		}
		return out
	}
	oa, na := addrs(o), addrs(n)
	for _, a := range na {
		if !slices.Contains(oa, a) {
			p.Ops = append(p.Ops, realserver.Op{Kind: realserver.AddAddr, Addr: a})
		}
	}
	for _, a := range oa {
		if !slices.Contains(na, a) {
			p.Ops = append(p.Ops, realserver.Op{Kind: realserver.DelAddr, Addr: a})
		}
	}
	for _, s := range o.Sysctls {
		if !slices.ContainsFunc(n.Sysctls, func(t model.Sysctl) bool { return t.Name == s.Name }) {
			p.Ops = append(p.Ops, realserver.Op{Kind: realserver.RestoreSysctl, Name: s.Name, Old: s.Value, New: "(as before hakeeper)"})
		}
	}
	return p
}

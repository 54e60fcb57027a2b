package plan

import (
	"slices"

	"github.com/hakeeper/hakeeper/lvs"
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
		live = &Live{Instances: old.Instances, Services: old.Services, Checks: old.Checks, SyncGroups: old.SyncGroups, BGP: old.BGP,
			SyncDaemons: lvs.SyncDaemonsFromModel(old.ConnectionSync, syncState(old, ""))}
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

// InstanceIdentity lists the fields of a virtual router's identity
// (model.InstanceKey) that differ: the engine cannot reconfigure them, it
// stops the old router and starts a new one.
func InstanceIdentity(o, n *model.Instance) []FieldChange {
	return slices.DeleteFunc(updated(instanceFields, o, n), func(f FieldChange) bool {
		return f.Name != "vrid" && f.Name != "interface" && f.Name != "family"
	})
}

// ServiceIdentity lists the fields of a service's IPVS identity that
// differ (lvs.Diff matches services by them): IPVS cannot change them in
// place, so the service is deleted and created again.
func ServiceIdentity(o, n *model.VirtualService) []FieldChange {
	return updated(serviceIdentityFields, o, n)
}

var serviceIdentityFields = []field[model.VirtualService]{
	shownField("family", func(v *model.VirtualService) string { return string(v.Family) }),
	shownField("protocol", func(v *model.VirtualService) string { return string(v.Protocol) }),
	shownField("address", func(v *model.VirtualService) string { return addrStr(v.Address) }),
	shownField("port", func(v *model.VirtualService) string { return nonZero(uint32(v.Port)) }),
	shownField("fwmark", func(v *model.VirtualService) string { return nonZero(v.FWMark) }),
}

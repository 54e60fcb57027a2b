package plan

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

// This file is the IPVS half of the plan. Against a live node the lvs
// package's operation list is shown as is (ipvsChanges): the plan lists
// exactly the writes the programmer would make. Without the kernel
// (--offline, or a daemon's desired state) servicesDiff compares model
// services, which also shows what the kernel cannot hold (checks, quorum,
// sorry server).

// serviceKey is a virtual service's identity in IPVS.
type serviceKey struct {
	family   model.Family
	protocol model.Protocol
	address  netip.Addr
	port     uint16
	fwmark   uint32
}

func keyOfService(vs *model.VirtualService) serviceKey {
	return serviceKey{vs.Family, vs.Protocol, vs.Address, vs.Port, vs.FWMark}
}

// realServerKey is a real server's identity inside its service.
type realServerKey struct {
	address netip.Addr
	port    uint16
}

func keyOfRealServer(rs *model.RealServerSpec) realServerKey {
	return realServerKey{rs.Address, rs.Port}
}

var serviceFields = []field[model.VirtualService]{
	{"scheduler", func(a, b *model.VirtualService) bool { return a.Scheduler == b.Scheduler }, func(v *model.VirtualService) string { return v.Scheduler }},
	{"schedulerFlags", func(a, b *model.VirtualService) bool { return slices.Equal(a.SchedulerFlags, b.SchedulerFlags) }, func(v *model.VirtualService) string { return strings.Join(v.SchedulerFlags, ",") }},
	{"forwarding", func(a, b *model.VirtualService) bool { return a.Forwarding == b.Forwarding }, func(v *model.VirtualService) string { return string(v.Forwarding) }},
	{"persistence", func(a, b *model.VirtualService) bool {
		return a.Persistence == b.Persistence && a.PersistenceMask == b.PersistenceMask
	}, Persistence},
	{"vipGroup", func(a, b *model.VirtualService) bool { return a.Group == b.Group }, func(v *model.VirtualService) string { return v.Group }},
	{"quorum", func(a, b *model.VirtualService) bool { return a.Quorum == b.Quorum }, func(v *model.VirtualService) string { return itoa(v.Quorum) }},
	{"sorryServer", func(a, b *model.VirtualService) bool { return realServerPtrEq(a.SorryServer, b.SorryServer) }, func(v *model.VirtualService) string {
		if v.SorryServer == nil {
			return ""
		}
		return RealServerName(v.SorryServer)
	}},
	{"drain", func(a, b *model.VirtualService) bool { return a.Drain == b.Drain }, func(v *model.VirtualService) string { return boolStr(v.Drain) }},
	{"startDown", func(a, b *model.VirtualService) bool { return a.StartDown == b.StartDown }, func(v *model.VirtualService) string { return boolStr(v.StartDown) }},
}

var realServerFields = []field[model.RealServerSpec]{
	{"weight", func(a, b *model.RealServerSpec) bool { return a.Weight == b.Weight }, func(v *model.RealServerSpec) string { return itoa(v.Weight) }},
	{"upperThreshold", func(a, b *model.RealServerSpec) bool { return a.UpperThreshold == b.UpperThreshold }, func(v *model.RealServerSpec) string { return nonZero(v.UpperThreshold) }},
	{"lowerThreshold", func(a, b *model.RealServerSpec) bool { return a.LowerThreshold == b.LowerThreshold }, func(v *model.RealServerSpec) string { return nonZero(v.LowerThreshold) }},
	{"check", func(a, b *model.RealServerSpec) bool { return checkEq(a.Check, b.Check) }, func(v *model.RealServerSpec) string { return CheckString(v.Check) }},
}

func nonZero(v uint32) string {
	if v == 0 {
		return ""
	}
	return itoa(v)
}

func realServerPtrEq(a, b *model.RealServerSpec) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equal(realServerFields, a, b) && keyOfRealServer(a) == keyOfRealServer(b)
}

func checkEq(a, b *model.CheckSpec) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Type != b.Type || a.Interval != b.Interval || a.Timeout != b.Timeout || a.Retries != b.Retries ||
		a.Rise != b.Rise || a.Fall != b.Fall || a.Port != b.Port || a.User != b.User {
		return false
	}
	return httpCheckEq(a.HTTP, b.HTTP) && execCheckEq(a.Exec, b.Exec) && ptrEq(a.UDP, b.UDP) && ptrEq(a.DNS, b.DNS)
}

func httpCheckEq(a, b *model.HTTPCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Path == b.Path && slices.Equal(a.Status, b.Status) && a.Body == b.Body && a.BodyRegex == b.BodyRegex &&
		a.Host == b.Host && a.SNI == b.SNI && a.InsecureSkipVerify == b.InsecureSkipVerify
}

func execCheckEq(a, b *model.ExecCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.User == b.User && commandEq(a.Command, b.Command)
}

// servicesDiff appends the changes of IPVS virtual services and their
// real servers, each service followed by its real servers.
func servicesDiff(p *Plan, desired, live []model.VirtualService) {
	found, gone := matchByKey(desired, live, keyOfService)
	for i := range desired {
		d := &desired[i]
		j := found[i]
		if j < 0 {
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindService, Group: d.Name, Name: ServiceName(d), Fields: created(serviceFields, d)})
			realServersDiff(p, d.Name, d.RealServers, nil)
			continue
		}
		l := &live[j]
		if fields := renamed(l.Name, d.Name, updated(serviceFields, l, d)); fields != nil {
			p.Changes = append(p.Changes, Change{Action: Update, Kind: KindService, Group: d.Name, Name: ServiceName(d), Fields: fields})
		}
		realServersDiff(p, d.Name, d.RealServers, l.RealServers)
	}
	sort.SliceStable(gone, func(a, b int) bool { return live[gone[a]].Name < live[gone[b]].Name })
	for _, j := range gone {
		l := &live[j]
		p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindService, Group: l.Name, Name: ServiceName(l), Fields: deleted(serviceFields, l)})
		for k := range l.RealServers {
			rs := &l.RealServers[k]
			p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindRealServer, Group: l.Name, Name: RealServerName(rs)})
		}
	}
}

func realServersDiff(p *Plan, group string, desired, live []model.RealServerSpec) {
	found, gone := matchByKey(desired, live, keyOfRealServer)
	for i := range desired {
		d := &desired[i]
		j := found[i]
		if j < 0 {
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindRealServer, Group: group, Name: RealServerName(d), Fields: created(realServerFields, d)})
			continue
		}
		if changed := updated(realServerFields, &live[j], d); changed != nil {
			p.Changes = append(p.Changes, Change{Action: Update, Kind: KindRealServer, Group: group, Name: RealServerName(d), Fields: changed})
		}
	}
	for _, j := range gone {
		l := &live[j]
		p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindRealServer, Group: group, Name: RealServerName(l), Fields: deleted(realServerFields, l)})
	}
}

// ipvsChanges translates the operations lvs computed against the live
// IPVS table (Live.IPVS) into plan changes, one change per operation, so
// the plan shows exactly the writes that would be made. desired labels
// services with their model names and addresses.
func ipvsChanges(p *Plan, desired []model.VirtualService, ops *lvs.Plan) {
	names := make(map[string]*model.VirtualService, len(desired))
	for i := range desired {
		names[desired[i].Name] = &desired[i]
	}
	serviceName := func(op *lvs.Op) (group, name string) {
		if vs := names[op.Name]; vs != nil {
			return op.Name, ServiceName(vs)
		}
		key := op.Service.Key().String()
		if op.Name == "" {
			return key, key
		}
		return op.Name, key
	}
	for i := range ops.Ops {
		op := &ops.Ops[i]
		group, svcName := serviceName(op)
		switch op.Kind {
		case lvs.OpAddService:
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindService, Group: group, Name: svcName, Fields: created(lvsServiceFields, &op.Service)})
		case lvs.OpUpdateService:
			p.Changes = append(p.Changes, Change{Action: Update, Kind: KindService, Group: group, Name: svcName, Fields: updated(lvsServiceFields, &op.OldService, &op.Service)})
		case lvs.OpDeleteService:
			p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindService, Group: group, Name: svcName, Fields: deleted(lvsServiceFields, &op.Service)})
		case lvs.OpAddDestination:
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindRealServer, Group: group, Name: op.Destination.Key().String(), Fields: created(lvsDestinationFields, &op.Destination)})
		case lvs.OpUpdateDestination:
			p.Changes = append(p.Changes, Change{Action: Update, Kind: KindRealServer, Group: group, Name: op.Destination.Key().String(), Fields: updated(lvsDestinationFields, &op.OldDestination, &op.Destination)})
		case lvs.OpDeleteDestination:
			p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindRealServer, Group: group, Name: op.Destination.Key().String(), Fields: deleted(lvsDestinationFields, &op.Destination)})
		}
	}
	for i := range ops.Conflicts {
		vs := &ops.Conflicts[i]
		p.Changes = append(p.Changes, Change{Action: Note, Kind: KindUnmanaged, Name: vs.Service.Key().String(),
			Fields: []FieldChange{{Name: "conflict", New: "desired service " + vs.Name + " is held by a service hakeeper does not own; left alone"}}})
	}
	for _, svc := range ops.Unmanaged {
		p.Changes = append(p.Changes, Change{Action: Note, Kind: KindUnmanaged, Name: svc.Key().String()})
	}
}

// lvsServiceFields are a kernel service's attributes a plan shows.
var lvsServiceFields = []field[lvs.Service]{
	shownField("scheduler", func(s *lvs.Service) string { return s.Scheduler }),
	shownField("flags", func(s *lvs.Service) string {
		if s.Flags == 0 {
			return ""
		}
		return s.Flags.String()
	}),
	shownField("persistence", func(s *lvs.Service) string {
		if s.Timeout == 0 {
			return ""
		}
		return itoa(s.Timeout) + "s/" + itoa(s.Normalize().Netmask)
	}),
}

// lvsDestinationFields are a kernel destination's attributes a plan shows.
var lvsDestinationFields = []field[lvs.Destination]{
	shownField("weight", func(d *lvs.Destination) string { return itoa(d.Weight) }),
	shownField("forwarding", func(d *lvs.Destination) string { return d.Forwarding.String() }),
	shownField("upperThreshold", func(d *lvs.Destination) string { return nonZero(d.UpperThreshold) }),
	shownField("lowerThreshold", func(d *lvs.Destination) string { return nonZero(d.LowerThreshold) }),
}

package plan

import (
	"slices"
	"sort"
	"strings"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
)

// Live is what runs on the node now, as observed by whoever builds the
// plan (the daemon's status, netlink, IPVS). The zero Live is an empty
// node: planning against it (`hakeeper plan --offline`) shows everything
// as created.
type Live struct {
	// Instances the VRRP engine runs; nil when no daemon runs.
	Instances []model.Instance
	// Services are the IPVS virtual services hakeeper owns; nil when
	// not observed.
	Services []model.VirtualService
	// Checks are the tracked checks the daemon runs and SyncGroups its
	// sync groups; nil when no daemon runs.
	Checks     []model.TrackCheckSpec
	SyncGroups []model.SyncGroupSpec
	// Unmanaged are IPVS services present that hakeeper did not create;
	// they are listed as notes and left alone.
	Unmanaged []model.VirtualService
	// IPVS, when set, is the lvs programmer's plan against the kernel's
	// table; it replaces Services and Unmanaged, and each operation is
	// one change.
	IPVS *lvs.Plan
	// RealServer, when set, is the realserver programmer's plan against
	// the kernel; without it the real-server role is planned as new.
	RealServer *realserver.Plan
	// Marks, when set, is the fwmark rules' plan against the kernel's
	// table; without it the live services' rules stand for the table.
	Marks *marks.Plan
	// BGP is the daemon's BGP part; nil when none runs (or it has none).
	BGP *model.BGPState
	// SyncDaemons are the kernel's IPVS sync daemons; nil when not
	// observed (the desired daemon is then planned as new). SyncState is
	// the VRRP state of the group whose state the daemon follows, as the
	// running daemon reports it ("" when unknown).
	SyncDaemons []lvs.SyncDaemon
	SyncState   model.VRRPState
}

// Diff computes the changes that take live to desired. Instances are
// matched by their wire identity (Instance.Key), services by address,
// port and protocol or fwmark, real servers by address and port: names
// are labels, so a renamed VIP group or service is an update of its name
// only.
func Diff(desired *model.NodeState, live *Live) *Plan {
	if live == nil {
		live = &Live{}
	}
	p := &Plan{Node: desired.Node}
	instancesDiff(p, desired.Instances, live.Instances)
	namedDiff(p, KindSyncGroup, syncGroupFields, func(g *model.SyncGroupSpec) string { return g.Name }, desired.SyncGroups, live.SyncGroups)
	namedDiff(p, KindTrackedCheck, checkFields, func(c *model.TrackCheckSpec) string { return c.Name }, desired.Checks, live.Checks)
	realServerChanges(p, desired, live.RealServer)
	marksDiff(p, desired.Services, live)
	bgpDiff(p, desired.BGP, live.BGP)
	syncDaemonsDiff(p, desired, live)
	if live.IPVS != nil {
		ipvsChanges(p, desired.Services, live.IPVS)
		return p
	}
	servicesDiff(p, desired.Services, live.Services)
	for i := range live.Unmanaged {
		vs := &live.Unmanaged[i]
		p.Changes = append(p.Changes, Change{Action: Note, Kind: KindUnmanaged, Name: ServiceName(vs)})
	}
	return p
}

// instanceFields are the attributes of a VRRP instance a plan shows. VIPs
// are shown apart: as one field on create, as vip changes on update.
var instanceFields = slices.Concat([]field[model.Instance]{
	{"vrid", func(a, b *model.Instance) bool { return a.VRID == b.VRID }, func(v *model.Instance) string { return itoa(v.VRID) }},
	{"interface", func(a, b *model.Instance) bool { return a.Interface == b.Interface }, func(v *model.Instance) string { return v.Interface }},
	{"family", func(a, b *model.Instance) bool { return a.Family == b.Family }, func(v *model.Instance) string { return string(v.Family) }},
	{"version", func(a, b *model.Instance) bool { return a.Version == b.Version }, func(v *model.Instance) string { return itoa(v.Version) }},
	{"priority", func(a, b *model.Instance) bool { return a.Priority == b.Priority }, func(v *model.Instance) string { return itoa(v.Priority) }},
	{"initialState", func(a, b *model.Instance) bool { return a.InitialState == b.InitialState }, func(v *model.Instance) string { return string(v.InitialState) }},
	{"preference", func(a, b *model.Instance) bool { return slices.Equal(a.Preference, b.Preference) }, func(v *model.Instance) string { return Preference(v.Preference) }},
	{"advertInterval", func(a, b *model.Instance) bool { return a.AdvertInterval == b.AdvertInterval }, func(v *model.Instance) string { return v.AdvertInterval.String() }},
	{"preempt", func(a, b *model.Instance) bool { return a.Preempt == b.Preempt }, func(v *model.Instance) string { return boolStr(v.Preempt) }},
	{"preemptDelay", func(a, b *model.Instance) bool { return a.PreemptDelay == b.PreemptDelay }, func(v *model.Instance) string { return v.PreemptDelay.String() }},
	{"unicast", func(a, b *model.Instance) bool { return a.Unicast == b.Unicast }, func(v *model.Instance) string { return boolStr(v.Unicast) }},
	{"sourceAddress", func(a, b *model.Instance) bool { return a.SourceAddress == b.SourceAddress }, func(v *model.Instance) string { return addrStr(v.SourceAddress) }},
	{"peers", func(a, b *model.Instance) bool { return slices.Equal(a.Peers, b.Peers) }, func(v *model.Instance) string { return AddrList(v.Peers) }},
	{"auth", func(a, b *model.Instance) bool { return ptrEq(a.Auth, b.Auth) }, func(v *model.Instance) string { return AuthString(v.Auth) }},
	{"trackInterfaces", func(a, b *model.Instance) bool { return slices.Equal(a.TrackInterfaces, b.TrackInterfaces) }, func(v *model.Instance) string { return TrackInterfaces(v.TrackInterfaces) }},
	{"trackChecks", func(a, b *model.Instance) bool { return slices.Equal(a.TrackChecks, b.TrackChecks) }, func(v *model.Instance) string { return TrackChecks(v.TrackChecks) }},
}, notifyFields(func(v *model.Instance) *model.NotifySpec { return &v.Notify }), []field[model.Instance]{
	{"syncGroup", func(a, b *model.Instance) bool { return a.SyncGroup == b.SyncGroup }, func(v *model.Instance) string { return v.SyncGroup }},
	{"garp", func(a, b *model.Instance) bool { return a.GARP == b.GARP }, func(v *model.Instance) string { return GARP(v.GARP) }},
})

// notifyFields are the notify hooks of an instance or a sync group, of
// which of returns the NotifySpec.
func notifyFields[T any](of func(*T) *model.NotifySpec) []field[T] {
	return []field[T]{
		{"notify.master", func(a, b *T) bool { return commandEq(of(a).Master, of(b).Master) }, func(v *T) string { return of(v).Master.String() }},
		{"notify.backup", func(a, b *T) bool { return commandEq(of(a).Backup, of(b).Backup) }, func(v *T) string { return of(v).Backup.String() }},
		{"notify.fault", func(a, b *T) bool { return commandEq(of(a).Fault, of(b).Fault) }, func(v *T) string { return of(v).Fault.String() }},
		{"notify.stop", func(a, b *T) bool { return commandEq(of(a).Stop, of(b).Stop) }, func(v *T) string { return of(v).Stop.String() }},
		{"notify.timeout", func(a, b *T) bool { return of(a).Timeout == of(b).Timeout }, func(v *T) string { return notifyTimeout(of(v)) }},
		{"notify.user", func(a, b *T) bool { return of(a).User == of(b).User }, func(v *T) string { return notifyUser(of(v)) }},
	}
}

// syncGroupFields are the attributes of a sync group a plan shows.
var syncGroupFields = slices.Concat([]field[model.SyncGroupSpec]{
	{"instances", func(a, b *model.SyncGroupSpec) bool { return slices.Equal(a.Instances, b.Instances) }, func(v *model.SyncGroupSpec) string { return strings.Join(v.Instances, ", ") }},
}, notifyFields(func(v *model.SyncGroupSpec) *model.NotifySpec { return &v.Notify }))

// checkFields are the attributes of a tracked check a plan shows.
var checkFields = []field[model.TrackCheckSpec]{
	{"command", func(a, b *model.TrackCheckSpec) bool { return commandEq(a.Command, b.Command) }, func(v *model.TrackCheckSpec) string { return v.Command.String() }},
	{"interval", func(a, b *model.TrackCheckSpec) bool { return a.Interval == b.Interval }, func(v *model.TrackCheckSpec) string { return v.Interval.String() }},
	{"timeout", func(a, b *model.TrackCheckSpec) bool { return a.Timeout == b.Timeout }, func(v *model.TrackCheckSpec) string { return v.Timeout.String() }},
	{"rise", func(a, b *model.TrackCheckSpec) bool { return a.Rise == b.Rise }, func(v *model.TrackCheckSpec) string { return itoa(v.Rise) }},
	{"fall", func(a, b *model.TrackCheckSpec) bool { return a.Fall == b.Fall }, func(v *model.TrackCheckSpec) string { return itoa(v.Fall) }},
	{"weight", func(a, b *model.TrackCheckSpec) bool { return a.Weight == b.Weight }, func(v *model.TrackCheckSpec) string { return checkWeight(v.Weight) }},
	{"user", func(a, b *model.TrackCheckSpec) bool { return a.User == b.User }, func(v *model.TrackCheckSpec) string { return v.User }},
}

// notifyTimeout only matters when a hook is set; showing it otherwise is noise.
func notifyTimeout(n *model.NotifySpec) string {
	if !n.HasHooks() {
		return ""
	}
	return n.Timeout.String()
}

// notifyUser shows who runs the hooks only when there is a hook: a
// scriptUser default reaches every instance, hooks or not.
func notifyUser(n *model.NotifySpec) string {
	if !n.HasHooks() {
		return ""
	}
	return n.User
}

func commandEq(a, b model.Command) bool { return a.Shell == b.Shell && slices.Equal(a.Argv, b.Argv) }

// instancesDiff appends the changes of VRRP instances.
func instancesDiff(p *Plan, desired, live []model.Instance) {
	found, gone := matchByKey(desired, live, func(in *model.Instance) model.InstanceKey { return in.Key() })
	for i := range desired {
		d := &desired[i]
		j := found[i]
		if j < 0 {
			fields := append(created(instanceFields, d), FieldChange{Name: "vips", New: VIPList(d.VIPs)})
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindInstance, Group: d.Name, Name: InstanceName(d), Fields: fields})
			continue
		}
		l := &live[j]
		if fields := renamed(l.Name, d.Name, updated(instanceFields, l, d)); fields != nil {
			p.Changes = append(p.Changes, Change{Action: Update, Kind: KindInstance, Group: d.Name, Name: InstanceName(d), Fields: fields})
		}
		vipsDiff(p, d.Name, d.VIPs, l.VIPs)
	}
	sort.SliceStable(gone, func(a, b int) bool { return live[gone[a]].Name < live[gone[b]].Name })
	for _, j := range gone {
		l := &live[j]
		fields := append(deleted(instanceFields, l), FieldChange{Name: "vips", Old: VIPList(l.VIPs)})
		p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindInstance, Group: l.Name, Name: InstanceName(l), Fields: fields})
	}
}

// checkWeight is a tracked check's default weight: 0 faults the groups
// tracking it.
func checkWeight(w int) string {
	if w == 0 {
		return "fault"
	}
	return itoa(w)
}

// namedDiff appends the changes of objects whose name is their identity
// (sync groups, tracked checks): a renamed one is deleted and created.
// Each change is its own group, named after the object.
func namedDiff[T any](p *Plan, kind Kind, fields []field[T], name func(*T) string, desired, live []T) {
	found, gone := matchByKey(desired, live, name)
	for i := range desired {
		d := &desired[i]
		j := found[i]
		if j < 0 {
			p.Changes = append(p.Changes, Change{Action: Create, Kind: kind, Group: name(d), Name: name(d), Fields: created(fields, d)})
			continue
		}
		if changed := updated(fields, &live[j], d); changed != nil {
			p.Changes = append(p.Changes, Change{Action: Update, Kind: kind, Group: name(d), Name: name(d), Fields: changed})
		}
	}
	for _, j := range gone {
		l := &live[j]
		p.Changes = append(p.Changes, Change{Action: Delete, Kind: kind, Group: name(l), Name: name(l), Fields: deleted(fields, l)})
	}
}

// vipsDiff lists VIPs added to or removed from a running instance. They
// are applied by the engine (on the master only), not as plain addresses.
func vipsDiff(p *Plan, group string, desired, live []model.VIPSpec) {
	for _, v := range desired {
		if !slices.Contains(live, v) {
			p.Changes = append(p.Changes, Change{Action: Create, Kind: KindVIP, Group: group, Name: VIPName(v)})
		}
	}
	for _, v := range live {
		if !slices.Contains(desired, v) {
			p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindVIP, Group: group, Name: VIPName(v)})
		}
	}
}

// matchByKey pairs each desired element with the live element of the
// same key: found[i] is the index in live of desired[i]'s match, or -1;
// gone lists the live indexes no desired element matched, in live order.
func matchByKey[T any, K comparable](desired, live []T, key func(*T) K) (found, gone []int) {
	index := make(map[K]int, len(live))
	for j := range live {
		index[key(&live[j])] = j
	}
	found = make([]int, len(desired))
	matched := make([]bool, len(live))
	for i := range desired {
		found[i] = -1
		if j, ok := index[key(&desired[i])]; ok {
			found[i], matched[j] = j, true
		}
	}
	for j, m := range matched {
		if !m {
			gone = append(gone, j)
		}
	}
	return found, gone
}

package plan

import (
	"slices"
	"strconv"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

// KindSyncDaemon is an IPVS connection-sync daemon (group: the VIP group
// whose VRRP state it follows).
const KindSyncDaemon Kind = "sync-daemon"

// syncDaemonFields are the settings of a sync daemon a plan shows.
var syncDaemonFields = []struct {
	name string
	of   func(d *lvs.SyncDaemon) string
}{
	{"interface", func(d *lvs.SyncDaemon) string { return d.Interface }},
	{"syncID", func(d *lvs.SyncDaemon) string { return strconv.Itoa(int(d.SyncID)) }},
	{"multicastGroup", func(d *lvs.SyncDaemon) string { return d.Group.String() }},
	{"port", func(d *lvs.SyncDaemon) string { return strconv.Itoa(int(d.Port)) }},
	{"ttl", func(d *lvs.SyncDaemon) string { return strconv.Itoa(int(d.TTL)) }},
	{"maxPacketSize", func(d *lvs.SyncDaemon) string { return strconv.Itoa(int(d.MaxLen)) }},
}

// syncDaemonsDiff appends the sync daemons to start, restart (~) and
// stop. The desired daemon's state follows the group's VRRP state as the
// daemon reports it (live.SyncState), else the instance's initial state.
// Without connectionSync the kernel's daemons are notes: the daemon
// leaves alone what it did not start.
func syncDaemonsDiff(p *Plan, desired *model.NodeState, live *Live) {
	spec := desired.ConnectionSync
	var want []lvs.SyncDaemon
	group := "(none)"
	if spec != nil {
		group = spec.Group
		want = lvs.SyncDaemonsFromModel(spec, syncState(desired, live.SyncState))
	}
	find := func(ds []lvs.SyncDaemon, s lvs.SyncState) *lvs.SyncDaemon {
		if i := slices.IndexFunc(ds, func(d lvs.SyncDaemon) bool { return d.State == s }); i >= 0 {
			return &ds[i]
		}
		return nil
	}
	for _, d := range live.SyncDaemons {
		if spec == nil {
			p.Changes = append(p.Changes, Change{Action: Note, Kind: KindSyncDaemon, Group: group, Name: daemonName(&d)})
		} else if find(want, d.State) == nil {
			p.Changes = append(p.Changes, Change{Action: Delete, Kind: KindSyncDaemon, Group: group, Name: daemonName(&d)})
		}
	}
	for _, d := range want {
		c := Change{Action: Create, Kind: KindSyncDaemon, Group: group, Name: daemonName(&d)}
		old := find(live.SyncDaemons, d.State)
		for _, f := range syncDaemonFields {
			switch {
			case old == nil:
				c.Fields = append(c.Fields, FieldChange{Name: f.name, New: f.of(&d)})
			case f.of(old) != f.of(&d):
				c.Action = Update
				c.Fields = append(c.Fields, FieldChange{Name: f.name, Old: f.of(old), New: f.of(&d)})
			}
		}
		if old == nil || c.Action == Update {
			p.Changes = append(p.Changes, c)
		}
	}
}

// syncState is the VRRP state a node's sync daemon follows: the running
// group's (reported) or else its instance's initial state.
func syncState(ns *model.NodeState, reported model.VRRPState) model.VRRPState {
	if reported != "" || ns.ConnectionSync == nil {
		return reported
	}
	if i := slices.IndexFunc(ns.Instances, func(in model.Instance) bool { return in.Name == ns.ConnectionSync.Group }); i >= 0 {
		return ns.Instances[i].InitialState
	}
	return ""
}

func daemonName(d *lvs.SyncDaemon) string {
	return d.State.String() + " on " + d.Interface
}

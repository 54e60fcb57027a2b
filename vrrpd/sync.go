package vrrpd

import (
	"fmt"

	"github.com/hakeeper/hakeeper/model"
)

// Sync groups follow keepalived's vrrp_sync_group: when a member becomes
// master the backups among the others follow; when a member leaves
// master for backup the other masters follow; when a member faults, the
// others are held in fault until it recovers (retrack). The group's own
// notify hooks run when every member has reached the same state, with
// the group name, the state and priority 0 as arguments.

type syncGroup struct {
	spec  model.SyncGroupSpec
	state model.VRRPState
	hooks *serialQueue
}

func (e *Engine) applySyncGroups(state *model.NodeState) {
	next := map[string]*syncGroup{}
	for _, s := range state.SyncGroups {
		g := e.syncGroups[s.Name]
		if g == nil {
			g = &syncGroup{hooks: &serialQueue{work: &e.work}}
		}
		g.spec = s
		next[s.Name] = g
	}
	e.syncGroups = next
}

// syncFollow moves the other members of in's sync group after in moved
// to state.
func (e *Engine) syncFollow(in *instance, state model.VRRPState) {
	if in.cfg.SyncGroup == "" {
		return
	}
	reason := fmt.Sprintf("sync group %s: %s became %s", in.cfg.SyncGroup, in.cfg.Name, state)
	for _, m := range e.sortedInstances() {
		if m == in || m.cfg.SyncGroup != in.cfg.SyncGroup {
			continue
		}
		switch state {
		case model.StateMaster:
			if m.state == model.StateBackup {
				m.becomeMaster(reason, true)
			}
		case model.StateBackup:
			if m.state == model.StateMaster {
				m.becomeBackup(reason, true)
			}
		}
	}
}

// syncNotify runs the group hook once all members agree on a new state.
func (e *Engine) syncNotify(in *instance) {
	g := e.syncGroups[in.cfg.SyncGroup]
	if g == nil {
		return
	}
	for _, m := range e.instances {
		if m.cfg.SyncGroup == in.cfg.SyncGroup && m.state != in.state {
			return
		}
	}
	if g.state == in.state {
		return
	}
	g.state = in.state
	e.runHook(g.hooks, g.spec.Notify, g.spec.Name, in.state, 0)
}

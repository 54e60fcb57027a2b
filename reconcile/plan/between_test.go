package plan

import (
	"net/netip"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// A node's plan between two desired states: nothing for the same state,
// everything created for a new node, everything destroyed for a removed
// one, and the real-server role's writes both ways.
func TestBetween(t *testing.T) {
	s := sampleState()
	if p := Between(s, sampleState()); p.HasChanges() {
		t.Errorf("same state: %+v", p.Changes)
	}
	if got, want := Between(nil, s).Summary(), Diff(s, &Live{}).Summary(); got != want {
		t.Errorf("new node: %+v, want what an empty node plans, %+v", got, want)
	}
	gone := Between(s, nil)
	if sum := gone.Summary(); sum.Add != 0 || sum.Change != 0 || sum.Destroy == 0 || gone.Node != "lb1" {
		t.Errorf("removed node %s: %+v, want only destroys", gone.Node, sum)
	}

	role := &model.RealServerRole{
		VIPs:    []model.RealServerVIP{{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Device: "lo", Services: []string{"web"}}},
		Sysctls: []model.Sysctl{{Name: "net.ipv4.conf.all.arp_ignore", Value: "1"}},
	}
	withRole := sampleState()
	withRole.RealServer = role
	got := map[Kind]Action{}
	for _, c := range Between(s, withRole).Changes {
		got[c.Kind] = c.Action
	}
	if got[KindRealServerVIP] != Create || got[KindSysctl] != Update || len(got) != 2 {
		t.Errorf("becoming a real server: %v, want the VIP created and the sysctl set", got)
	}
	got = map[Kind]Action{}
	for _, c := range Between(withRole, s).Changes {
		got[c.Kind] = c.Action
		if c.Kind == KindSysctl && c.Fields[0].Old != "1" {
			t.Errorf("restored sysctl %+v, want it from 1", c.Fields)
		}
	}
	if got[KindRealServerVIP] != Delete || got[KindSysctl] != Update || len(got) != 2 {
		t.Errorf("no longer a real server: %v, want the VIP deleted and the sysctl restored", got)
	}
}

// A sync daemon the old revision already runs is no change; a changed
// setting is one update.
func TestBetweenConnectionSync(t *testing.T) {
	withSync := func(port uint16) *model.NodeState {
		s := sampleState()
		s.ConnectionSync = &model.ConnectionSyncSpec{Group: "api", Interface: "eth0", SyncID: 52, Port: port}
		return s
	}
	if p := Between(withSync(8848), withSync(8848)); p.HasChanges() {
		t.Errorf("same connectionSync: %+v", p.Changes)
	}
	p := Between(withSync(8848), withSync(8849))
	if len(p.Changes) != 1 || p.Changes[0].Kind != KindSyncDaemon || p.Changes[0].Action != Update {
		t.Errorf("port changed: %+v, want one sync-daemon update", p.Changes)
	}
}

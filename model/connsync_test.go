package model

import (
	"net/netip"
	"testing"
)

// connectionSync resolves per node: the group's interface on that node
// (an override included), the VRID as sync ID, the kernel's defaults; a
// node outside the group runs no daemon.
func TestDesiredConnectionSync(t *testing.T) {
	const src = `nodes:
  lb1: {address: 192.0.2.1, interface: eth0, overrides: {web: {interface: eth9}}}
  lb2: {address: 192.0.2.2, interface: eth0}
  lb3: {address: 192.0.2.3, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
    connectionSync: {}
  v6:
    vrid: 52
    vips: [2001:db8::10/64]
    nodes: [lb3]
    connectionSync: {interface: sync0, syncID: 0, multicastGroup: "ff02::81", port: 9000, ttl: 2}
`
	c, err := Load([]File{{Name: "c.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatal(err)
	}
	for node, want := range map[string]ConnectionSyncSpec{
		"lb1": {Group: "web", Interface: "eth9", SyncID: 51, MulticastGroup: DefaultSyncMulticastGroup, Port: 8848, TTL: 1, MaxPacketSize: 1472},
		"lb2": {Group: "web", Interface: "eth0", SyncID: 51, MulticastGroup: DefaultSyncMulticastGroup, Port: 8848, TTL: 1, MaxPacketSize: 1472},
		"lb3": {Group: "v6", Interface: "sync0", SyncID: 0, MulticastGroup: netip.MustParseAddr("ff02::81"), Port: 9000, TTL: 2, MaxPacketSize: 1452},
	} {
		ns, err := Desired(c, node)
		if err != nil {
			t.Fatal(err)
		}
		if ns.ConnectionSync == nil || *ns.ConnectionSync != want {
			t.Errorf("%s: connection sync %+v, want %+v", node, ns.ConnectionSync, want)
		}
	}
	delete(c.VIPGroups, "v6")
	if ns, err := Desired(c, "lb3"); err != nil || ns.ConnectionSync != nil {
		t.Errorf("lb3, in no syncing group: %+v (err %v)", ns.ConnectionSync, err)
	}
}

package model

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

const bgpCluster = `nodes:
  lb1:
    address: 192.0.2.1
    interface: eth0
  lb2:
    address: 192.0.2.2
    interface: eth0
  lb3:
    address: 192.0.2.3
    interface: eth0
bgp:
  asn: 64600
  holdTime: 6s
  bfd: {interval: 100ms}
  peers:
    - {address: 192.0.2.254, asn: 64512, passwordFile: /etc/hakeeper/bgp-password}
    - {address: 192.0.2.253, asn: 64513, holdTime: 30s, nodes: [lb3]}
vipGroups:
  web:
    mode: bgp
    vips: [203.0.113.10]
    nodes: [lb1, lb2, lb3]
  ordered:
    mode: bgp
    bgpPreference: med
    vips: [203.0.113.20/32]
    nodes: [lb3, lb1]
  prepended:
    mode: bgp
    bgpPreference: asPath
    vips: [203.0.113.30/32]
    nodes: [lb2, lb3]
checks:
  app: {command: /bin/true}
services:
  http:
    vip: 203.0.113.10
    port: 80
    forwarding: dr
    schedulerFlags: [mh-port]
    realServers: [{address: 198.51.100.1}]
`

// TestDesiredBGP: a node's BGP part (peers with inherited and own
// timers, the groups it is a member of with their rank), its services'
// default scheduler mh, and the VIPs on lo with the sloppy sysctls
// through the real-server role; no VRRP instance for a bgp group.
func TestDesiredBGP(t *testing.T) {
	c, err := Load([]File{{Name: "c.yaml", Data: []byte(bgpCluster)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Desired(c, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 0 {
		t.Errorf("instances for bgp groups: %+v", st.Instances)
	}
	b := st.BGP
	if b == nil {
		t.Fatal("no BGP state")
	}
	if b.ASN != 64600 || b.RouterID != netip.MustParseAddr("192.0.2.1") || b.DrainTime != DefaultBGPDrainTime {
		t.Errorf("BGP: asn %d, router id %s, drain %s", b.ASN, b.RouterID, b.DrainTime)
	}
	wantPeer := BGPPeerSpec{Address: netip.MustParseAddr("192.0.2.254"), ASN: 64512, LocalAddress: netip.MustParseAddr("192.0.2.1"),
		PasswordFile: "/etc/hakeeper/bgp-password", HoldTime: 6 * time.Second, Keepalive: 2 * time.Second, BFDInterval: 100 * time.Millisecond, BFDMultiplier: 3}
	if len(b.Peers) != 1 || b.Peers[0] != wantPeer {
		t.Errorf("peers (lb3's router left out):\n%+v\nwant\n%+v", b.Peers, wantPeer)
	}
	got, _ := json.Marshal(b.Groups)
	want := `[{"name":"ordered","vips":["203.0.113.20/32"],"med":1,"prepend":0},{"name":"web","vips":["203.0.113.10/32"],"services":["http"],"med":0,"prepend":0}]`
	if string(got) != want {
		t.Errorf("groups:\n%s\nwant\n%s", got, want)
	}
	if len(st.Services) != 1 || st.Services[0].Scheduler != "mh" {
		t.Errorf("services: %+v, want http with mh", st.Services)
	}
	role, _ := json.Marshal(st.RealServer)
	wantRole := `{"vips":[{"prefix":"203.0.113.10/32","device":"lo","services":["http"]},{"prefix":"203.0.113.20/32","device":"lo","services":null}],"sysctls":[{"name":"net.ipv4.vs.sloppy_sctp","value":"1"},{"name":"net.ipv4.vs.sloppy_tcp","value":"1"}]}`
	if string(role) != wantRole {
		t.Errorf("role:\n%s\nwant\n%s", role, wantRole)
	}

	st3, err := Desired(c, "lb3")
	if err != nil {
		t.Fatal(err)
	}
	if p := st3.BGP.Peers; len(p) != 2 || p[0].HoldTime != 30*time.Second || p[0].Keepalive != 10*time.Second {
		t.Errorf("lb3's peers: %+v", p)
	}
	got, _ = json.Marshal(st3.BGP.Groups)
	want = `[{"name":"ordered","vips":["203.0.113.20/32"],"med":0,"prepend":0},{"name":"prepended","vips":["203.0.113.30/32"],"med":0,"prepend":1},{"name":"web","vips":["203.0.113.10/32"],"services":["http"],"med":0,"prepend":0}]`
	if string(got) != want {
		t.Errorf("lb3's groups:\n%s\nwant\n%s", got, want)
	}
}

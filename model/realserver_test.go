package model

import (
	"encoding/json"
	"testing"
)

const realServerCluster = `
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  web1: {address: 192.0.2.101, address6: "2001:db8::101"}
  web2: {address: 192.0.2.102}
  web3: {address: 192.0.2.103}
vipGroups:
  web: {vrid: 51, vips: [192.0.2.10/24, 192.0.2.11/24], nodes: [lb1]}
  web6: {vrid: 52, vips: ["2001:db8::10/64"], nodes: [lb1]}
services:
  http: {vip: 192.0.2.10, port: 80, forwarding: dr, realServers: [{node: web1, weight: 2}, {address: 192.0.2.102}]}
  https: {vip: 192.0.2.10, port: 443, forwarding: dr, realServers: [{node: web1}]}
  tunnelled: {vip: 192.0.2.11, port: 80, forwarding: tun, realServers: [{node: web1}]}
  http6: {vip: "2001:db8::10", port: 80, forwarding: dr, realServers: [{node: web1}]}
  marked: {fwmark: 7, group: web, forwarding: dr, realServers: [{node: web2}]}
  sorry: {vip: 192.0.2.11, port: 443, forwarding: dr, realServers: [{address: 192.0.2.102}], sorryServer: {node: web3}}
  nated: {vip: 192.0.2.10, port: 8080, realServers: [{node: web1, port: 80}]}
`

func TestRealServerRole(t *testing.T) {
	c, err := Load([]File{{Name: "rs.yaml", Data: []byte(realServerCluster)}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ node, want string }{
		{"web1", `{"vips":[` +
			`{"prefix":"192.0.2.10/32","device":"lo","services":["http","https"]},` +
			`{"prefix":"192.0.2.11/32","device":"tunl0","services":["tunnelled"]},` +
			`{"prefix":"2001:db8::10/128","device":"lo","services":["http6"]}],` +
			`"sysctls":[{"name":"net.ipv4.conf.all.arp_announce","value":"2"},{"name":"net.ipv4.conf.all.arp_ignore","value":"1"},{"name":"net.ipv4.conf.tunl0.rp_filter","value":"2"}],` +
			`"nat":["nated"]}`},
		// A fwmark service's real server holds every VIP of its group.
		{"web2", `{"vips":[` +
			`{"prefix":"192.0.2.10/32","device":"lo","services":["marked"]},` +
			`{"prefix":"192.0.2.11/32","device":"lo","services":["marked"]}],` +
			`"sysctls":[{"name":"net.ipv4.conf.all.arp_announce","value":"2"},{"name":"net.ipv4.conf.all.arp_ignore","value":"1"}]}`},
		// A sorry server is a real server too.
		{"web3", `{"vips":[{"prefix":"192.0.2.11/32","device":"lo","services":["sorry"]}],` +
			`"sysctls":[{"name":"net.ipv4.conf.all.arp_announce","value":"2"},{"name":"net.ipv4.conf.all.arp_ignore","value":"1"}]}`},
		{"lb1", `null`},
	}
	for _, tc := range tests {
		ns, err := Desired(c, tc.node)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(ns.RealServer)
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.node, got, tc.want)
		}
	}
	// The director resolves a node entry to the node's address.
	ns, err := Desired(c, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	for _, vs := range ns.Services {
		if vs.Name == "http6" && vs.RealServers[0].Address.String() != "2001:db8::101" ||
			vs.Name == "http" && vs.RealServers[0].Address.String() != "192.0.2.101" {
			t.Errorf("%s: real servers %+v", vs.Name, vs.RealServers)
		}
	}
}

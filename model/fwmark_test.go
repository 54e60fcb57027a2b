package model

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const ftpCluster = `nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
  lb3: {address: 192.0.2.3, interface: eth0}
vipGroups:
  ftp:
    vrid: 21
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
services:
  ftp:
    fwmark: 21
    group: ftp
    match:
      - protocol: tcp
        address: 192.0.2.10
        ports: [10000-10100, 21, 22, 10050-10200]
    realServers: [{address: 198.51.100.21}]
`

// Every node of the service's group gets the match, ports sorted and
// merged; a node outside the group gets neither service nor rules.
func TestDesiredMarkMatch(t *testing.T) {
	c, err := Load([]File{{Name: "c.yaml", Data: []byte(ftpCluster)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []MarkRule{{TCP, netip.MustParseAddr("192.0.2.10"), StatusCodes{{21, 22}, {10000, 10200}}}}
	for _, node := range []string{"lb1", "lb2"} {
		ns, err := Desired(c, node)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns.Services) != 1 || !reflect.DeepEqual(ns.Services[0].Match, want) {
			t.Errorf("%s: services %+v, want the ftp service matching %v", node, ns.Services, want)
		}
	}
	ns, err := Desired(c, "lb3")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Services) != 0 {
		t.Errorf("lb3 is not in group ftp, yet programs %+v", ns.Services)
	}
}

// A match written back (keepalived import) reads as the operator writes it.
func TestMarkMatchYAML(t *testing.T) {
	out, err := yaml.Marshal(MarkMatch{TCP, "192.0.2.10", PortRanges{{21, 21}, {10000, 10100}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "ports: [21, 10000-10100]"; !strings.Contains(string(out), want) {
		t.Errorf("got\n%s\nwant a line %q", out, want)
	}
}

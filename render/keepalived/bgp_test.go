package keepalived

import (
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// A node announcing over BGP has no keepalived equivalent: Render says
// so rather than render its IPVS without the announcements.
func TestRenderRefusesBGP(t *testing.T) {
	c, err := model.Load([]model.File{{Name: "c.yaml", Data: []byte(`nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
bgp:
  asn: 64600
  peers: [{address: 192.0.2.254, asn: 64512}]
vipGroups:
  www: {mode: bgp, vips: [203.0.113.80], nodes: [lb1]}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := model.Desired(c, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(st, RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "node lb1 announces VIPs over BGP (group www): keepalived has no BGP speaker") {
		t.Fatalf("Render: %v", err)
	}
}

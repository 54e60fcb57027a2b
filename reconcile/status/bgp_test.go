package status_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

func bgpReport() *status.Report {
	vip := netip.MustParsePrefix("203.0.113.10/32")
	return &status.Report{
		Node: "lb1", Source: "dir /etc/hakeeper", Healthy: true, Services: []status.Service{},
		BGP: &status.BGP{ASN: 64600, RouterID: netip.MustParseAddr("192.0.2.1"),
			Peers: []status.BGPPeer{
				{Address: netip.MustParseAddr("192.0.2.254"), ASN: 64512, State: "established", BFD: "up", Since: now.Add(-time.Minute)},
				{Address: netip.MustParseAddr("192.0.2.253"), ASN: 64512, State: "active"},
			},
			Groups: []status.BGPGroup{
				{Name: "web", VIPs: []netip.Prefix{vip}, Announced: []netip.Prefix{vip}},
				{Name: "api", VIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.20/32")}, Announced: []netip.Prefix{}, MED: 1,
					Withdrawn: "service api below quorum (weight 0 of 1 up)"},
			}},
	}
}

// The BGP part: sessions with BFD, each group announced or why not.
func TestTableShowsBGP(t *testing.T) {
	var b bytes.Buffer
	if err := status.WriteText(&b, bgpReport(), now); err != nil {
		t.Fatal(err)
	}
	golden(t, "bgp.txt", b.Bytes())
	j, err := json.MarshalIndent(bgpReport().BGP, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bgp.json", append(j, '\n'))
}

package plan

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// TestBGPDiff: a node's BGP part planned from nothing, then a peer's
// timers and a group's rank changed and a peer gone.
func TestBGPDiff(t *testing.T) {
	peer := func(a string) model.BGPPeerSpec {
		return model.BGPPeerSpec{Address: netip.MustParseAddr(a), ASN: 64512, LocalAddress: netip.MustParseAddr("192.0.2.1"), HoldTime: 9 * time.Second, Keepalive: 3 * time.Second}
	}
	live := &model.BGPState{ASN: 64600, RouterID: netip.MustParseAddr("192.0.2.1"), DrainTime: 5 * time.Second,
		Peers:  []model.BGPPeerSpec{peer("192.0.2.253"), peer("192.0.2.254")},
		Groups: []model.BGPGroup{{Name: "web", VIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/32")}, Services: []string{"http"}}}}
	desired := *live
	desired.Peers = []model.BGPPeerSpec{peer("192.0.2.254")}
	desired.Peers[0].BFDInterval, desired.Peers[0].BFDMultiplier = 300*time.Millisecond, 3
	desired.Groups = []model.BGPGroup{live.Groups[0]}
	desired.Groups[0].MED = 1

	got := lines(Diff(&model.NodeState{Node: "lb1", BGP: live}, nil))
	want := []string{"+ bgp lb1 bgp", "+ bgp-peer 192.0.2.253 192.0.2.253", "+ bgp-peer 192.0.2.254 192.0.2.254", "+ bgp-group web web"}
	if !slices.Equal(got, want) {
		t.Errorf("from nothing:\n%q\nwant\n%q", got, want)
	}
	got = lines(Diff(&model.NodeState{Node: "lb1", BGP: &desired}, &Live{BGP: live}))
	want = []string{"~ bgp-peer 192.0.2.254 192.0.2.254: bfd off→300ms x3", "- bgp-peer 192.0.2.253 192.0.2.253", "~ bgp-group web web: med 0→1"}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%q\nwant\n%q", got, want)
	}
}

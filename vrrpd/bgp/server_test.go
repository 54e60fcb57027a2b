package bgp_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/vrrpd/bgp"
)

// TestServerRestartsForGlobalChanges: GoBGP takes a new ASN or router
// id only by stopping, after which that BgpServer cannot start again;
// the speaker must come back with the new settings, and after a Config
// without BGP (the node left its bgp groups) too. No peers: nothing
// leaves the process.
func TestServerRestartsForGlobalChanges(t *testing.T) {
	sp := bgp.NewServer(nil)
	defer sp.Stop()
	vip := bgp.Route{Prefix: netip.MustParsePrefix("203.0.113.10/32")}
	for i, c := range []bgp.Config{
		{ASN: 64600, RouterID: netip.MustParseAddr("192.0.2.1"), Routes: []bgp.Route{vip}},
		{ASN: 64601, RouterID: netip.MustParseAddr("192.0.2.1"), Routes: []bgp.Route{vip}},
		{ASN: 64601, RouterID: netip.MustParseAddr("192.0.2.2"), Routes: []bgp.Route{vip}},
		{},
		{ASN: 64602, RouterID: netip.MustParseAddr("192.0.2.2"), Routes: []bgp.Route{vip}},
	} {
		done := make(chan error, 1)
		go func() { done <- sp.Apply(c) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("apply %d: %v", i, err)
			}
		case <-time.After(30 * time.Second): // far above the milliseconds it takes
			t.Fatalf("apply %d (%+v) hangs", i, c)
		}
		if got := sp.Status().Announced; len(got) != len(c.Routes) {
			t.Errorf("apply %d: announced %v, want %v", i, got, c.Routes)
		}
	}
}

// TestServerTracksAnnouncedRoutes: Status reports what Apply left
// announced after routes were added, re-ranked and withdrawn, sorted by
// prefix. No peers: nothing leaves the process.
func TestServerTracksAnnouncedRoutes(t *testing.T) {
	sp := bgp.NewServer(nil)
	defer sp.Stop()
	a := bgp.Route{Prefix: netip.MustParsePrefix("203.0.113.10/32")}
	b := bgp.Route{Prefix: netip.MustParsePrefix("203.0.113.11/32")}
	c := bgp.Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}
	aRanked := bgp.Route{Prefix: a.Prefix, MED: 5, Prepend: 2}
	for i, step := range []struct{ apply, want []bgp.Route }{
		{[]bgp.Route{c, b, a}, []bgp.Route{a, b, c}},
		{[]bgp.Route{aRanked, c}, []bgp.Route{aRanked, c}},
		{[]bgp.Route{b}, []bgp.Route{b}},
		{nil, nil},
	} {
		if err := sp.Apply(bgp.Config{ASN: 64600, RouterID: netip.MustParseAddr("192.0.2.1"), Routes: step.apply}); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if got := sp.Status().Announced; !slices.Equal(got, step.want) {
			t.Errorf("apply %d: announced %v, want %v", i, got, step.want)
		}
	}
}

package bgp_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/frr"
	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd/bgp"
)

// The speaker runs in a director's namespace, so it is this test binary
// started again there (GoBGP's sockets are opened by its own goroutines,
// on any thread: a namespace cannot be entered for it in-process).
// speakerEnv holds its Configs as JSON: the first is applied at start,
// SIGUSR1 switches to the next, SIGTERM stops the speaker and exits.
const speakerEnv = "HKV_BGP_SPEAKER"

func TestMain(m *testing.M) {
	if cfgs := os.Getenv(speakerEnv); cfgs != "" {
		os.Exit(runSpeaker(cfgs))
	}
	os.Exit(m.Run())
}

func runSpeaker(cfgs string) int {
	var list []bgp.Config
	if err := json.Unmarshal([]byte(cfgs), &list); err != nil {
		fmt.Println("bad config:", err)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM)
	sp := bgp.NewServer(nil)
	i := 0
	apply := func() {
		err := sp.Apply(list[i%len(list)])
		fmt.Printf("applied %d err=%v\n", i, err)
	}
	apply()
	tick := time.NewTicker(100 * time.Millisecond)
	last := ""
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				sp.Stop()
				fmt.Println("stopped")
				return 0
			}
			i++
			apply()
		case <-tick.C:
			b, _ := json.Marshal(sp.Status())
			if st := string(b); st != last {
				last = st
				fmt.Println("status", st)
			}
		}
	}
}

func startSpeaker(t testing.TB, n *netns.Node, cfgs ...bgp.Config) *netns.Process {
	t.Helper()
	b, err := json.Marshal(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return n.StartEnv(t, []string{speakerEnv + "=" + string(b)}, exe)
}

var vip = netip.MustParsePrefix("203.0.113.10/32")

// TestSpeakerWithFRR: three directors announce a VIP to a real FRR;
// the router's FIB holds it with three ECMP next hops, and each way a
// director goes away removes exactly its next hop: a withdrawal, a crash
// detected by BFD (hold time far longer than the test's deadline), a
// crash detected by the hold timer alone, and a graceful stop. A
// director with the wrong TCP-MD5 password never gets a session.
func TestSpeakerWithFRR(t *testing.T) {
	frr.Skip(t)
	lab := netns.New(t, 4)
	rn, d1, d2, d3 := lab.Node(1), lab.Node(2), lab.Node(3), lab.Node(4)
	addr := func(n *netns.Node) netip.Addr { return n.Addr.Addr() }
	const routerAS, dirAS = 64512, 64600
	// d1 relies on BFD: its 60 s hold time would outlast every deadline here.
	// d2 has no BFD and FRR's shortest hold time.
	router := frr.Start(t, rn, frr.Config{
		ASN: routerAS, RouterID: addr(rn), BFDInterval: 300, BFDMultiplier: 3,
		Neighbors: []frr.Neighbor{
			{Address: addr(d1), ASN: dirAS, BFD: true, Keepalive: 20, Hold: 60},
			{Address: addr(d2), ASN: dirAS, Keepalive: 1, Hold: 3},
			{Address: addr(d3), ASN: dirAS, Password: "right", Keepalive: 1, Hold: 3},
		},
	})
	cfg := func(n *netns.Node, peer bgp.Peer, routes ...bgp.Route) bgp.Config {
		peer.Address, peer.ASN, peer.LocalAddress = addr(rn), routerAS, addr(n)
		return bgp.Config{ASN: dirAS, RouterID: addr(n), Peers: []bgp.Peer{peer}, Routes: routes}
	}
	announce := bgp.Route{Prefix: vip}
	bfdPeer := bgp.Peer{HoldTime: 60 * time.Second, Keepalive: 20 * time.Second, BFD: &bgp.BFD{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}}
	holdPeer := bgp.Peer{HoldTime: 3 * time.Second, Keepalive: time.Second}
	md5Peer := holdPeer
	md5Peer.Password = "right"

	s1 := startSpeaker(t, d1, cfg(d1, bfdPeer, announce), cfg(d1, bfdPeer))
	s2 := startSpeaker(t, d2, cfg(d2, holdPeer, announce))
	s3 := startSpeaker(t, d3, cfg(d3, md5Peer, announce))
	// Generous: sessions start on a loaded machine with connect retries.
	const deadline = 30 * time.Second
	all := []netip.Addr{addr(d1), addr(d2), addr(d3)}
	if _, err := router.WaitNextHops(vip, all, deadline); err != nil {
		t.Fatal(err)
	}
	if err := s1.WaitOutput(`"state":"established","bfd":"up"`, deadline); err != nil {
		bfd, _ := router.Vtysh("show bfd peers")
		t.Fatalf("speaker status: %v\n%s\nrouter:\n%s", err, s1.Output(), bfd)
	}

	s1.Signal(syscall.SIGUSR1) // withdraw
	if _, err := router.WaitNextHops(vip, all[1:], deadline); err != nil {
		t.Fatal("withdrawal:", err)
	}
	s1.Signal(syscall.SIGUSR1) // announce again
	if _, err := router.WaitNextHops(vip, all, deadline); err != nil {
		t.Fatal("re-announcement:", err)
	}

	// A crash: the director goes silent. Killing the process alone is no
	// crash: its kernel would close the TCP session (FIN) for it.
	crash := func(d *netns.Node, p *netns.Process) {
		t.Helper()
		if err := d.SetLink(false); err != nil {
			t.Fatal(err)
		}
		p.Kill()
	}
	crash(d1, s1) // BFD notices
	if _, err := router.WaitNextHops(vip, all[1:], deadline); err != nil {
		t.Fatal("crash with BFD:", err)
	}
	wantReset(t, router, addr(d1), "BFD")

	crash(d2, s2) // no BFD: the hold timer notices
	if _, err := router.WaitNextHops(vip, all[2:], deadline); err != nil {
		t.Fatal("crash without BFD:", err)
	}
	wantReset(t, router, addr(d2), "Hold")

	s3.Signal(syscall.SIGTERM) // graceful: a Cease notification
	if _, err := router.WaitNextHops(vip, nil, deadline); err != nil {
		t.Fatal("graceful stop:", err)
	}
	if code, err := s3.Wait(deadline); err != nil || code != 0 {
		t.Fatalf("speaker stop: exit %d, %v", code, err)
	}
	wantReset(t, router, addr(d3), "Notification")

	// The wrong password: the router's kernel drops the SYNs.
	before, err := router.MD5Failures()
	if err != nil {
		t.Fatal(err)
	}
	md5Peer.Password = "wrong"
	s3 = startSpeaker(t, d3, cfg(d3, md5Peer, announce))
	err = netlab.Wait(t.Context(), deadline, 50*time.Millisecond, func() (bool, error) {
		n, err := router.MD5Failures()
		return n > before, err
	})
	if err != nil {
		t.Fatal("no segment with a wrong TCP-MD5 signature reached the router:", err)
	}
	if h, err := router.NextHops(vip); err != nil || len(h) > 0 {
		t.Fatalf("next hops with a wrong password: %v, %v", h, err)
	}
	if s, err := router.Sessions(); err != nil || s[addr(d3)].State == "Established" {
		t.Fatalf("session with a wrong password: %+v, %v", s[addr(d3)], err)
	}
	if strings.Contains(s3.Output(), `"established"`) {
		t.Fatalf("speaker with a wrong password reports a session:\n%s", s3.Output())
	}
}

func wantReset(t *testing.T, r *frr.Router, peer netip.Addr, why string) {
	t.Helper()
	s, err := r.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s[peer].Why(), why) {
		t.Errorf("router: session with %s last reset due to %q, want %s", peer, s[peer].Why(), why)
	}
}

// TestPreferenceWithFRR: the active/backup flavour. Two directors
// announce the VIP ranked by MED, then by AS-path prepending; the router
// sends everything to the preferred one alone while it announces, and to
// the other once it withdraws.
func TestPreferenceWithFRR(t *testing.T) {
	frr.Skip(t)
	lab := netns.New(t, 3)
	rn, d1, d2 := lab.Node(1), lab.Node(2), lab.Node(3)
	addr := func(n *netns.Node) netip.Addr { return n.Addr.Addr() }
	const routerAS, dirAS = 64512, 64600
	router := frr.Start(t, rn, frr.Config{ASN: routerAS, RouterID: addr(rn), Neighbors: []frr.Neighbor{
		{Address: addr(d1), ASN: dirAS, Keepalive: 1, Hold: 3},
		{Address: addr(d2), ASN: dirAS, Keepalive: 1, Hold: 3},
	}})
	cfg := func(n *netns.Node, routes ...bgp.Route) bgp.Config {
		return bgp.Config{ASN: dirAS, RouterID: addr(n), Routes: routes, Peers: []bgp.Peer{{
			Address: addr(rn), ASN: routerAS, LocalAddress: addr(n), HoldTime: 3 * time.Second, Keepalive: time.Second}}}
	}
	const deadline = 30 * time.Second
	for _, tc := range []struct {
		name          string
		first, second bgp.Route
	}{
		{"med", bgp.Route{Prefix: vip, MED: 0}, bgp.Route{Prefix: vip, MED: 1}},
		{"asPath", bgp.Route{Prefix: vip, Prepend: 0}, bgp.Route{Prefix: vip, Prepend: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The backup starts first: the preferred one must take over
			// from an installed route, not merely be first.
			s2 := startSpeaker(t, d2, cfg(d2, tc.second))
			if _, err := router.WaitNextHops(vip, []netip.Addr{addr(d2)}, deadline); err != nil {
				t.Fatal("backup alone:", err)
			}
			s1 := startSpeaker(t, d1, cfg(d1, tc.first), cfg(d1))
			if _, err := router.WaitNextHops(vip, []netip.Addr{addr(d1)}, deadline); err != nil {
				t.Fatal("preferred announces:", err)
			}
			s1.Signal(syscall.SIGUSR1) // the preferred one withdraws
			if _, err := router.WaitNextHops(vip, []netip.Addr{addr(d2)}, deadline); err != nil {
				t.Fatal("preferred withdrew:", err)
			}
			for _, s := range []*netns.Process{s1, s2} {
				s.Signal(syscall.SIGTERM)
				s.Wait(deadline)
			}
			if _, err := router.WaitNextHops(vip, nil, deadline); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestIPv6WithFRR: an IPv6 VIP goes as a /128 over IPv6 sessions; the
// router's FIB holds it through both directors (by their global or
// link-local addresses, whichever FRR installs).
func TestIPv6WithFRR(t *testing.T) {
	frr.Skip(t)
	lab := netns.New(t, 3)
	rn, d1, d2 := lab.Node(1), lab.Node(2), lab.Node(3)
	addr6 := func(n *netns.Node) netip.Addr { return n.Addr6.Addr() }
	const routerAS, dirAS = 64512, 64600
	router := frr.Start(t, rn, frr.Config{ASN: routerAS, RouterID: rn.Addr.Addr(), Neighbors: []frr.Neighbor{
		{Address: addr6(d1), ASN: dirAS, Keepalive: 1, Hold: 3},
		{Address: addr6(d2), ASN: dirAS, Keepalive: 1, Hold: 3},
	}})
	vip6 := netip.MustParsePrefix("2001:db8:ff::10/128")
	for _, d := range []*netns.Node{d1, d2} {
		startSpeaker(t, d, bgp.Config{ASN: dirAS, RouterID: d.Addr.Addr(), Routes: []bgp.Route{{Prefix: vip6}},
			Peers: []bgp.Peer{{Address: addr6(rn), ASN: routerAS, LocalAddress: addr6(d), HoldTime: 3 * time.Second, Keepalive: time.Second}}})
	}
	var last []netip.Addr
	err := netlab.Wait(t.Context(), 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		hops, err := router.NextHops(vip6)
		last = hops
		seen := map[*netns.Node]bool{}
		for _, h := range hops {
			for _, d := range []*netns.Node{d1, d2} {
				if h == addr6(d) || h == d.LinkLocal {
					seen[d] = true
				}
			}
		}
		return len(hops) == 2 && len(seen) == 2, err
	})
	if err != nil {
		rib, _ := router.Vtysh("show bgp ipv6 unicast")
		nb, _ := router.Vtysh("show bgp ipv6 unicast summary")
		t.Fatalf("next hops of %s: %v, want both directors: %v\n%s\n%s", vip6, last, err, rib, nb)
	}
}

// Package bgp tests `hakeeper run` announcing a bgp group's VIP to a
// real router: FRR in one namespace, three directors in others, all on
// one bridged segment. The host has no IPVS, so the group has no
// services here; a tracked check stands for its health (the IPVS data
// path is the VM's to test).
package bgp

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/frr"
	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/test/vrrp"
)

const (
	routerAS   = 64512
	directorAS = 64600
	// drainTime is long enough that the withdrawal reaches the router
	// while the stopping director still runs, on any load: the test
	// waits for that evidence, not for the time.
	drainTime = 15 * time.Second
	// deadline bounds each wait for evidence: sessions, BFD and route
	// changes take seconds at most; this allows for a loaded machine.
	deadline = 30 * time.Second
)

var vip = netip.MustParsePrefix("203.0.113.10/32")

// description is the cluster for directors ds, peering with router over
// BFD with the TCP-MD5 password in pwFile; the check fails on a
// director while flagDir holds a file named after its namespace.
func description(t *testing.T, router *netns.Node, ds []*netns.Node, pwFile, flagDir string) string {
	var b strings.Builder
	b.WriteString("cluster: hkv-bgp\nnodes:\n")
	var names []string
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s: {address: %s, interface: %s}\n", vrrp.NodeName(d), d.Addr.Addr(), d.Iface)
		names = append(names, vrrp.NodeName(d))
	}
	fmt.Fprintf(&b, `bgp:
  asn: %d
  holdTime: 3s
  keepalive: 1s
  drainTime: %s
  bfd: {interval: 300ms, multiplier: 3}
  peers:
    - {address: %s, asn: %d, passwordFile: %s}
checks:
  app:
    command: test ! -e %s/fail-$(ip netns identify)
    interval: 200ms
vipGroups:
  web:
    mode: bgp
    vips: [%s]
    nodes: [%s]
    trackChecks: [{check: app}]
`, directorAS, drainTime, router.Addr.Addr(), routerAS, pwFile, flagDir, vip.Addr(), strings.Join(names, ", "))
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDirectorsWithFRR: three `hakeeper run` directors announce the VIP
// and the router's FIB holds three ECMP next hops; a failing check
// withdraws one director's route and its recovery brings it back; a
// crashed director is dropped by BFD; a graceful stop withdraws while
// the director still runs, then closes the session; a restart
// announces again; a director with the wrong password gets no session.
func TestDirectorsWithFRR(t *testing.T) {
	frr.Skip(t)
	lab := netns.New(t, 4)
	rn, d1, d2, d3 := lab.Node(1), lab.Node(2), lab.Node(3), lab.Node(4)
	ds := []*netns.Node{d1, d2, d3}
	addr := func(n *netns.Node) netip.Addr { return n.Addr.Addr() }
	var neighbors []frr.Neighbor
	for _, d := range ds {
		neighbors = append(neighbors, frr.Neighbor{Address: addr(d), ASN: directorAS, Password: "right", BFD: true, Keepalive: 1, Hold: 3})
	}
	router := frr.Start(t, rn, frr.Config{ASN: routerAS, RouterID: addr(rn), BFDInterval: 300, BFDMultiplier: 3, Neighbors: neighbors})

	dir := t.TempDir()
	pw, wrongPW, flags := filepath.Join(dir, "bgp-password"), filepath.Join(dir, "bgp-password-wrong"), filepath.Join(dir, "flags")
	writeFile(t, pw, "right\n")
	writeFile(t, wrongPW, "wrong\n")
	if err := os.Mkdir(flags, 0o755); err != nil {
		t.Fatal(err)
	}
	src := description(t, rn, ds, pw, flags)
	hk := map[*netns.Node]*vrrp.Hakeeper{}
	for _, d := range ds {
		hk[d] = vrrp.StartHakeeper(t, d, src)
	}
	// show logs the router's route to the VIP: `make demo-bgp` runs this
	// test verbosely to show each step.
	show := func(step string) {
		out, err := router.Vtysh("show ip route " + vip.String())
		if err != nil {
			out = err.Error()
		}
		t.Logf("%s; the router's route:\n%s", step, out)
	}
	all := []netip.Addr{addr(d1), addr(d2), addr(d3)}
	if _, err := router.WaitNextHops(vip, all, deadline); err != nil {
		t.Fatal("ECMP:", err)
	}
	show("three directors announce the VIP")
	if err := hk[d1].WaitStatus(`"bfd": "up"`, deadline); err != nil {
		t.Fatal(err)
	}

	// A failing check withdraws d1's route only.
	flag := filepath.Join(flags, "fail-"+d1.Name)
	writeFile(t, flag, "")
	if _, err := router.WaitNextHops(vip, all[1:], deadline); err != nil {
		t.Fatal("failing check:", err)
	}
	if err := hk[d1].WaitStatus(`"withdrawn": "check app failing"`, deadline); err != nil {
		t.Error(err)
	}
	show("director " + d1.Name + "'s tracked check fails")
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	if _, err := router.WaitNextHops(vip, all, deadline); err != nil {
		t.Fatal("check passing again:", err)
	}

	// A crash: d2 goes silent (its kernel would otherwise close the
	// session for the killed process); BFD drops it.
	if err := d2.SetLink(false); err != nil {
		t.Fatal(err)
	}
	hk[d2].Kill()
	if _, err := router.WaitNextHops(vip, []netip.Addr{addr(d1), addr(d3)}, deadline); err != nil {
		t.Fatal("crash:", err)
	}
	if s, err := router.Sessions(); err != nil || !strings.Contains(s[addr(d2)].Why(), "BFD") {
		t.Errorf("crashed director's session: %+v, %v; want reset by BFD", s[addr(d2)], err)
	}
	show("director " + d2.Name + " crashed (check passing again on " + d1.Name + "); BFD dropped it")

	// A graceful stop: the route goes while d3 still runs (draining).
	if err := hk[d3].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := router.WaitNextHops(vip, all[:1], deadline); err != nil {
		t.Fatal("graceful stop:", err)
	}
	if hk[d3].Exited() {
		t.Fatalf("the director stopped before the router dropped its route:\n%s", hk[d3].Output())
	}
	show("director " + d3.Name + " stopping: withdrawn, still serving for the drain time")
	if code, err := hk[d3].Wait(drainTime + deadline); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v", code, err)
	}
	if s, err := router.Sessions(); err != nil || !strings.Contains(s[addr(d3)].Why(), "Notification") {
		t.Errorf("stopped director's session: %+v, %v; want closed with a notification", s[addr(d3)], err)
	}

	// A restart announces again.
	hk[d3] = vrrp.StartHakeeper(t, d3, src)
	if _, err := router.WaitNextHops(vip, []netip.Addr{addr(d1), addr(d3)}, deadline); err != nil {
		t.Fatal("restart:", err)
	}
	show("director " + d3.Name + " restarted")

	// d2 comes back with the wrong password: the router's kernel drops
	// its segments and it never gets a session.
	if err := d2.SetLink(true); err != nil {
		t.Fatal(err)
	}
	before, err := router.MD5Failures()
	if err != nil {
		t.Fatal(err)
	}
	hk[d2] = vrrp.StartHakeeper(t, d2, description(t, rn, ds, wrongPW, flags))
	err = netlab.Wait(t.Context(), deadline, 50*time.Millisecond, func() (bool, error) {
		n, err := router.MD5Failures()
		return n > before, err
	})
	if err != nil {
		t.Fatal("no segment with a wrong TCP-MD5 signature reached the router:", err)
	}
	if h, err := router.NextHops(vip); err != nil || len(h) != 2 {
		t.Errorf("next hops with a wrong password: %v, %v", h, err)
	}
	if s, err := router.Sessions(); err != nil || s[addr(d2)].State == "Established" {
		t.Errorf("session with a wrong password: %+v, %v", s[addr(d2)], err)
	}
	if strings.Contains(hk[d2].Status(), `"state": "established"`) {
		t.Errorf("director with a wrong password reports a session:\n%s", hk[d2].Status())
	}
	show("director " + d2.Name + " back with the wrong TCP-MD5 password: no session")
}

// BenchmarkAnnounceLatency is issue 14's figure: from writing a
// description that adds a VIP (a dir source: the daemon's file watch
// triggers the pass) to the route in the router's kernel FIB, the median
// of 10 changes, with the session up. The FIB is polled every 10 ms.
func BenchmarkAnnounceLatency(b *testing.B) {
	frr.Skip(b)
	lab := netns.New(b, 2)
	rn, d := lab.Node(1), lab.Node(2)
	router := frr.Start(b, rn, frr.Config{ASN: routerAS, RouterID: rn.Addr.Addr(),
		Neighbors: []frr.Neighbor{{Address: d.Addr.Addr(), ASN: directorAS, Keepalive: 1, Hold: 3}}})
	dir := b.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	write := func(vips []string) {
		text := fmt.Sprintf(`cluster: hkv-bgp
nodes:
  %s: {address: %s, interface: %s}
bgp:
  asn: %d
  peers: [{address: %s, asn: %d}]
vipGroups:
  web: {mode: bgp, vips: [%s], nodes: [%s]}
`, vrrp.NodeName(d), d.Addr.Addr(), d.Iface, directorAS, rn.Addr.Addr(), routerAS, strings.Join(vips, ", "), vrrp.NodeName(d))
		// Atomically, as a Git checkout or a config manager would.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	vips := []string{"203.0.113.10"}
	write(vips)
	vrrp.StartHakeeper(b, d, dir)
	if _, err := router.WaitNextHops(vip, []netip.Addr{d.Addr.Addr()}, time.Minute); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	for i := range 10 {
		added := netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)})
		vips = append(vips, added.String())
		start := time.Now()
		write(vips)
		at, err := router.WaitNextHops(netip.PrefixFrom(added, 32), []netip.Addr{d.Addr.Addr()}, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, at.Sub(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(took[0].Milliseconds()), "ms-min")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms-max")
}

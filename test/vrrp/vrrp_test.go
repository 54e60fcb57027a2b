package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

var (
	vip4 = netip.MustParseAddr("10.99.0.100")
	vip6 = netip.MustParseAddr("2001:db8:99::100")
)

// fast is the advert interval of most tests: the RFC timers scale with
// it, so a 100ms interval fails over in about 350ms.
const fast = 100 * time.Millisecond

// failoverBound is the longest a takeover may take with advert interval
// adv: Master_Down_Interval (3 adverts + skew < 1 advert) plus room for a
// loaded 2-core machine.
func failoverBound(adv time.Duration) time.Duration { return 4*adv + 2*time.Second }

// advertsFrom returns the VRRP adverts captured since t sent by node n.
func advertsFrom(c *netns.Capture, since time.Time, n *netns.Node) []netns.Frame {
	return c.Since(since, func(f *netns.Frame) bool { return f.IsVRRP() && bytes.Equal(f.Src, n.MAC) })
}

func decodeFrame(t *testing.T, f netns.Frame) *packet.Advert {
	t.Helper()
	a, err := packet.Decode(f.Payload, f.IPSrc, f.IPDst)
	if err != nil {
		t.Fatalf("captured advert from %s does not decode: %v (%x)", f.IPSrc, err, f.Payload)
	}
	return a
}

// start launches hakeeper on each given node.
func start(t *testing.T, src string, nodes ...*netns.Node) []*Hakeeper {
	t.Helper()
	var hs []*Hakeeper
	for _, n := range nodes {
		hs = append(hs, StartHakeeper(t, n, src))
	}
	return hs
}

func mustHolder(t *testing.T, lab *netns.Lab, addr netip.Addr, want *netns.Node, timeout time.Duration) time.Duration {
	t.Helper()
	d, err := lab.WaitHolder(addr, want, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// stays asserts that want alone holds addr for the whole duration.
func stays(t *testing.T, lab *netns.Lab, addr netip.Addr, want *netns.Node, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		h, err := lab.Holders(addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0] != want {
			var names []string
			for _, n := range h {
				names = append(names, n.Name)
			}
			t.Fatalf("%s: want held by %s only, held by %v", addr, want.Name, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashNode simulates a dead machine: SIGKILL the daemon, then remove
// the VIPs it leaves behind and take the node off the segment (a
// powered-off machine neither answers for its VIPs nor advertises). The
// dual-holder watch counts the node dead from the kill on: the test's
// own kill, wait and delete may outlast the survivors' timers.
func crashNode(t *testing.T, w *netns.DualWatch, p *netns.Process, vips ...netip.Addr) {
	t.Helper()
	w.Crashed(p.Node)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	p.Wait(5 * time.Second)
	n := p.Node
	list, err := n.Addrs(n.Iface)
	if err != nil {
		t.Fatal(err)
	}
	for _, pfx := range list {
		for _, v := range vips {
			if pfx.Addr() == v {
				n.MustExec(t, "ip", "addr", "del", pfx.String(), "dev", n.Iface)
			}
		}
	}
	if err := n.SetLink(false); err != nil {
		t.Fatal(err)
	}
}

// reviveNode puts a crashed node back on the segment, alive again for
// the dual-holder watch.
func reviveNode(t *testing.T, w *netns.DualWatch, n *netns.Node) {
	t.Helper()
	w.Revived(n)
	if err := n.SetLink(true); err != nil {
		t.Fatal(err)
	}
}

func group(name string, vrid int, vip string, extra string) string {
	return fmt.Sprintf("  %s:\n    vrid: %d\n    vips: [%s]\n    advertInterval: 100ms\n    garp: {refreshDelay: 0s}\n%s", name, vrid, vip, extra)
}

// TestElectionCrashAndPreemption: three nodes elect the highest
// priority; a SIGKILLed master is replaced by the next; a graceful stop
// hands over within skew time; the preferred node takes back over when it
// returns.
func TestElectionCrashAndPreemption(t *testing.T) {
	lab := netns.New(t, 3)
	capture := lab.Capture(t)
	n1, n2, n3 := lab.Node(1), lab.Node(2), lab.Node(3)
	src := Description(t, lab, "vipGroups:\n"+group("web", 51, "10.99.0.100/24", "    nodes: [n1, n2, n3]\n"))
	hs := start(t, src, n1, n2, n3)

	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	settled := time.Now()
	stays(t, lab, vip4, n1, 5*fast)

	// Only the master advertises, with its derived priority, to the group.
	if got := advertsFrom(capture, settled, n1); len(got) < 3 {
		t.Errorf("master sent %d adverts in %v", len(got), 5*fast)
	} else {
		a := decodeFrame(t, got[0])
		if a.Version != 3 || a.VRID != 51 || a.Priority != 200 || a.Interval != fast ||
			len(a.Addrs) != 1 || a.Addrs[0] != vip4 || got[0].IPDst != packet.Group4 {
			t.Errorf("master advert %+v to %s", a, got[0].IPDst)
		}
	}
	for _, b := range []*netns.Node{n2, n3} {
		if got := advertsFrom(capture, settled.Add(fast), b); len(got) != 0 {
			t.Errorf("backup %s sent %d adverts", b.Name, len(got))
		}
	}
	if _, err := capture.Wait(time.Time{}, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n1.MAC) }, time.Second); err != nil {
		t.Errorf("no gratuitous ARP from the master: %v", err)
	}

	// Crash: n2 (150) takes over, n3 stays backup.
	dual := lab.WatchHolders(vip4)
	crashed := time.Now()
	crashNode(t, dual, hs[0].Process, vip4)
	d := mustHolder(t, lab, vip4, n2, failoverBound(fast))
	t.Logf("crash failover: %v", d)
	// n2 (150) wins over n3 (100): its Master_Down_Interval is shorter.
	checkCrash(t, capture, crashed, n1, n2, 3, 150, fast)
	if _, err := capture.Wait(crashed, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n2.MAC) }, time.Second); err != nil {
		t.Errorf("no gratuitous ARP from the new master: %v", err)
	}
	stays(t, lab, vip4, n2, 5*fast)

	// The preferred node returns and preempts.
	reviveNode(t, dual, n1)
	hs[0] = StartHakeeper(t, n1, src)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	stays(t, lab, vip4, n1, 3*fast)

	// Graceful stop: priority 0 advert, takeover in about skew time.
	stopped := time.Now()
	hs[0].Stop(t)
	d = mustHolder(t, lab, vip4, n2, failoverBound(fast))
	t.Logf("graceful handover: %v after SIGTERM", d)
	checkGraceful(t, capture, stopped, n1, n2, 3, 150, fast)
	zero := advertsFrom(capture, stopped, n1)
	var sawZero bool
	for _, f := range zero {
		if decodeFrame(t, f).Priority == 0 {
			sawZero = true
		}
	}
	if !sawZero {
		t.Error("no priority-0 advert from the stopped master")
	}
	if has, _ := n1.HasAddr(n1.Iface, vip4); has {
		t.Error("stopped master kept the VIP")
	}
	checkDual(t, dual, fast)
}

// TestNoPreemptAndPreemptDelay: a returning higher-priority node does
// not take over with preempt off, and waits preemptDelay with it on.
func TestNoPreemptAndPreemptDelay(t *testing.T) {
	lab := netns.New(t, 4)
	n1, n2, n3, n4 := lab.Node(1), lab.Node(2), lab.Node(3), lab.Node(4)
	vipB := netip.MustParseAddr("10.99.0.101")
	src := Description(t, lab, "vipGroups:\n"+
		// 300ms adverts: no takeover is asserted, and a Master_Down_Interval
		// near 1s keeps a master starved of CPU for a few hundred ms (2
		// shared cores) from looking dead to the returning n1.
		strings.Replace(group("nopre", 61, "10.99.0.100/24", "    nodes: [n1, n2]\n    preempt: false\n"), "advertInterval: 100ms", "advertInterval: 300ms", 1)+
		group("delayed", 62, "10.99.0.101/24", "    nodes: [n3, n4]\n    preemptDelay: 1500ms\n"))
	start(t, src, n2, n4)
	mustHolder(t, lab, vip4, n2, failoverBound(fast)+2*time.Second)
	mustHolder(t, lab, vipB, n4, failoverBound(fast)+2*time.Second)
	dualA, dualB := lab.WatchHolders(vip4), lab.WatchHolders(vipB)

	sock := filepath.Join(t.TempDir(), "n1.sock")
	StartHakeeperArgs(t, n1, src, []string{"--listen", "unix:" + sock})
	start(t, src, n3)
	// n3 may take over only after its preempt delay.
	d, err := lab.WaitHolder(vipB, n3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d < 1500*time.Millisecond-50*time.Millisecond {
		t.Errorf("preempted after %v, before the 1.5s preempt delay", d)
	}
	// n1 never takes over. Evidence it had the chance: it accepted 7
	// adverts (2.1s of them), over two of its Master_Down_Intervals
	// (about 1s), and made no transition but its start as backup.
	g, err := WaitGroup(sock, "nopre", 15*time.Second, func(g status.VIPGroup) bool { return g.AdvertsRecv >= 7 })
	if err != nil {
		t.Fatal(err)
	}
	if g.State != "backup" || g.Transitions != 1 || g.Master != n2.Addr.Addr().String() {
		t.Errorf("n1 after %d adverts: %s with %d transitions, master %s; want backup since start under %s",
			g.AdvertsRecv, g.State, g.Transitions, g.Master, n2.Addr.Addr())
	}
	stays(t, lab, vip4, n2, 5*fast)
	checkDual(t, dualA, 3*fast)
	checkDual(t, dualB, fast)
}

// TestTrackedCheckAndInterfaceFault: a failing tracked check lowers the
// master's priority below the backup's and moves the VIP; it moves back
// when the check passes again. A downed interface faults the instance.
func TestTrackedCheckAndInterfaceFault(t *testing.T) {
	lab := netns.New(t, 2)
	n1, n2 := lab.Node(1), lab.Node(2)
	dir := t.TempDir()
	// One description for all nodes: the check tells nodes apart by the
	// namespace the daemon runs in.
	okFile := func(n *netns.Node) string { return filepath.Join(dir, "ok-"+n.Name) }
	for _, n := range lab.Nodes {
		os.WriteFile(okFile(n), nil, 0o644)
	}
	src := Description(t, lab, fmt.Sprintf(`checks:
  app:
    command: test -f %s/ok-$(ip netns identify)
    interval: 100ms
    weight: -150
vipGroups:
`, dir)+group("web", 51, "10.99.0.100/24", "    nodes: [n1, n2]\n    trackChecks: [{check: app}]\n"))
	hs := start(t, src, n1, n2)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	dual := lab.WatchHolders(vip4)

	os.Remove(okFile(n1))
	d := mustHolder(t, lab, vip4, n2, failoverBound(fast)+time.Second)
	t.Logf("check failure failover: %v", d)
	os.WriteFile(okFile(n1), nil, 0o644)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+time.Second)

	// Interface down: n1 faults, n2 takes over.
	if err := n1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	mustHolder(t, lab, vip4, n2, failoverBound(fast)+time.Second)
	if err := hs[0].WaitStatus(`"state": "fault"`, 3*time.Second); err != nil {
		t.Error(err)
	}
	if err := n1.SetLink(true); err != nil {
		t.Fatal(err)
	}
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	checkDual(t, dual, fast)
}

// TestUnicast: adverts go to each peer's address, never to the group.
func TestUnicast(t *testing.T) {
	lab := netns.New(t, 3)
	capture := lab.Capture(t)
	n1, n2, n3 := lab.Node(1), lab.Node(2), lab.Node(3)
	src := Description(t, lab, "vipGroups:\n"+group("web", 51, "10.99.0.100/24", "    nodes: [n1, n2, n3]\n    unicast: true\n"))
	hs := start(t, src, n1, n2, n3)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	dual := lab.WatchHolders(vip4)
	since := time.Now()
	// Ten adverts (five rounds to two peers), however long they take.
	for deadline := time.Now().Add(5 * time.Second); len(advertsFrom(capture, since, n1)) < 10; time.Sleep(fast) {
		if time.Now().After(deadline) {
			t.Fatalf("master sent %d unicast adverts in 5s", len(advertsFrom(capture, since, n1)))
		}
	}
	dsts := map[netip.Addr]int{}
	for _, f := range advertsFrom(capture, since, n1) {
		dsts[f.IPDst]++
		if f.IPSrc != n1.Addr.Addr() || f.TTL != 255 {
			t.Errorf("unicast advert from %s TTL %d", f.IPSrc, f.TTL)
		}
	}
	if len(dsts) != 2 || dsts[n2.Addr.Addr()] == 0 || dsts[n3.Addr.Addr()] == 0 {
		t.Errorf("unicast adverts went to %v, want %s and %s only", dsts, n2.Addr.Addr(), n3.Addr.Addr())
	}
	crashed := time.Now()
	crashNode(t, dual, hs[0].Process, vip4)
	mustHolder(t, lab, vip4, n2, failoverBound(fast))
	checkCrash(t, capture, crashed, n1, n2, 3, 150, fast)
	checkDual(t, dual, fast)
}

// TestIPv6: an IPv6 group advertises from the link-local address to
// ff02::12, adds the VIP without DAD and announces it with an
// unsolicited NA.
func TestIPv6(t *testing.T) {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	src := Description(t, lab, "vipGroups:\n"+group("web6", 71, "2001:db8:99::100/64", "    nodes: [n1, n2]\n"))
	hs := start(t, src, n1, n2)
	mustHolder(t, lab, vip6, n1, failoverBound(fast)+2*time.Second)
	out := n1.MustExec(t, "ip", "-6", "-o", "addr", "show", "dev", n1.Iface)
	if !strings.Contains(out, "2001:db8:99::100/64") || strings.Contains(out, "tentative") {
		t.Errorf("IPv6 VIP missing or tentative:\n%s", out)
	}
	if _, err := capture.Wait(time.Time{}, func(f *netns.Frame) bool { return f.NAFor(vip6) && bytes.Equal(f.Src, n1.MAC) }, time.Second); err != nil {
		t.Errorf("no unsolicited NA for the VIP: %v", err)
	}
	// An advert of the settled master (not one from its start-up).
	ad, err := capture.Wait(time.Now(), func(f *netns.Frame) bool { return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC) }, failoverBound(fast))
	if err != nil {
		t.Fatalf("no IPv6 advert from the master: %v", err)
	}
	a := decodeFrame(t, ad)
	if ad.IPSrc != n1.LinkLocal || ad.IPDst != packet.Group6 || ad.TTL != 255 || a.VRID != 71 || a.Addrs[0] != vip6 {
		t.Errorf("IPv6 advert %s -> %s hop %d: %+v", ad.IPSrc, ad.IPDst, ad.TTL, a)
	}
	dual := lab.WatchHolders(vip6)
	stopped := time.Now()
	hs[0].Stop(t)
	mustHolder(t, lab, vip6, n2, failoverBound(fast))
	checkGraceful(t, capture, stopped, n1, n2, 3, 100, fast)
	if _, err := capture.Wait(stopped, func(f *netns.Frame) bool { return f.NAFor(vip6) && bytes.Equal(f.Src, n2.MAC) }, time.Second); err != nil {
		t.Errorf("no unsolicited NA from the new master: %v", err)
	}
	checkDual(t, dual, fast)
}

// TestSyncGroup: when one member of a sync group faults, the other
// member follows it to the backup node.
func TestSyncGroup(t *testing.T) {
	lab := netns.New(t, 2)
	n1, n2 := lab.Node(1), lab.Node(2)
	dir := t.TempDir()
	for _, n := range lab.Nodes {
		os.WriteFile(filepath.Join(dir, "ok-"+n.Name), nil, 0o644)
	}
	vipB := netip.MustParseAddr("10.99.0.101")
	src := Description(t, lab, fmt.Sprintf(`checks:
  app:
    command: test -f %s/ok-$(ip netns identify)
    interval: 100ms
    weight: 0
syncGroups:
  both:
    groups: [web, db]
vipGroups:
`, dir)+group("web", 51, "10.99.0.100/24", "    nodes: [n1, n2]\n    trackChecks: [{check: app}]\n")+
		group("db", 52, "10.99.0.101/24", "    nodes: [n1, n2]\n"))
	start(t, src, n1, n2)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	mustHolder(t, lab, vipB, n1, failoverBound(fast)+2*time.Second)
	dualA, dualB := lab.WatchHolders(vip4), lab.WatchHolders(vipB)
	os.Remove(filepath.Join(dir, "ok-"+n1.Name))
	mustHolder(t, lab, vip4, n2, failoverBound(fast)+time.Second)
	mustHolder(t, lab, vipB, n2, failoverBound(fast)+time.Second)
	checkDual(t, dualA, fast)
	checkDual(t, dualB, fast)
}

// TestReload: SIGHUP applies a new revision (a second VIP appears); a
// broken revision is logged and changes nothing.
func TestReload(t *testing.T) {
	lab := netns.New(t, 1)
	n1 := lab.Node(1)
	src := Description(t, lab, "vipGroups:\n"+group("web", 51, "10.99.0.100/24", "    nodes: [n1]\n"))
	h := StartHakeeper(t, n1, src)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)

	text, _ := os.ReadFile(src)
	os.WriteFile(src, []byte(strings.Replace(string(text), "vips: [10.99.0.100/24]", "vips: [10.99.0.100/24, 10.99.0.101/24]", 1)), 0o644)
	h.Signal(syscall.SIGHUP)
	if _, err := n1.WaitAddr(n1.Iface, netip.MustParseAddr("10.99.0.101"), true, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, []byte("vipGroups: [this is not a description"), 0o644)
	h.Signal(syscall.SIGHUP)
	if err := h.WaitOutput("reload failed", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	stays(t, lab, vip4, n1, 3*fast)
	stays(t, lab, netip.MustParseAddr("10.99.0.101"), n1, fast)
	h.Stop(t)
	if has, _ := n1.HasAddr(n1.Iface, vip4); has {
		t.Error("VIP left behind after SIGTERM")
	}
}

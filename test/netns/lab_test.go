package netns

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLabTopology(t *testing.T) {
	l := New(t, 2)
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (busybox-static) for ping")
	}
	cap := l.Capture(t)
	n1, n2 := l.Node(1), l.Node(2)

	// Each node has its fixed addresses, including the derived link-local.
	for _, nd := range l.Nodes {
		for _, a := range []netip.Addr{nd.Addr.Addr(), nd.Addr6.Addr(), nd.LinkLocal} {
			if has, err := nd.HasAddr(nd.Iface, a); err != nil || !has {
				t.Errorf("%s: %s present = %v, %v", nd.Name, a, has, err)
			}
		}
	}
	// The segment works both ways and the capture sees the ARP exchange.
	start := time.Now()
	n1.MustExec(t, "busybox", "ping", "-c1", "-W2", n2.Addr.Addr().String())
	f, err := cap.Wait(start, func(f *Frame) bool { return f.IsARP() && bytes.Equal(f.Src, n1.MAC) }, 2*time.Second)
	if err != nil {
		t.Fatalf("ARP request from %s not captured: %v", n1.MAC, err)
	}
	if f.Time.Before(start.Add(-time.Second)) || f.Time.After(time.Now()) {
		t.Errorf("capture timestamp %v outside the test window", f.Time)
	}
	n2.MustExec(t, "busybox", "ping", "-6", "-c1", "-W2", n1.Addr6.Addr().String())

	// Addresses added in a node are seen through the namespace handle.
	vip := netip.MustParseAddr("10.99.0.200")
	n1.MustExec(t, "ip", "addr", "add", vip.String()+"/32", "dev", n1.Iface)
	if _, err := l.WaitHolder(vip, n1, time.Second); err != nil {
		t.Fatal(err)
	}
	n1.MustExec(t, "ip", "addr", "del", vip.String()+"/32", "dev", n1.Iface)
	if _, err := n1.WaitAddr(n1.Iface, vip, false, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestLabProcessAndCleanup(t *testing.T) {
	var names []string
	t.Run("inner", func(t *testing.T) {
		l := New(t, 1)
		names = append(names, l.BridgeNS, l.Node(1).Name)
		p := l.Node(1).Start(t, "sh", "-c", "ip -o link show eth0; sleep 30")
		if err := p.WaitOutput("eth0", 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Output(), l.Node(1).MAC.String()) {
			t.Errorf("process does not run in the node namespace: %q", p.Output())
		}
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(2 * time.Second); err != nil || code != -1 {
			t.Errorf("killed process: code %d, %v", code, err)
		}
	})
	out, err := execOut("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(out, n) {
			t.Errorf("namespace %s left behind after cleanup", n)
		}
	}
}

// TestDualWatch: the watch measures double holding from the kernel's
// address notifications, and a node marked dead does not count.
//
// Each expected stretch is bracketed by the test's own clock: the kernel
// made a change somewhere between the start and the end of the ip
// command that made it, and the watch stamps each end of a stretch up to
// DualStampTolerance late. So a stretch from the change made by `from`
// to the one made by `to` measures within
// [to.start-from.end-tolerance, to.end-from.start+tolerance], however
// long a loaded machine makes the commands and the sleeps.
func TestDualWatch(t *testing.T) {
	l := New(t, 3)
	n1, n2, n3 := l.Node(1), l.Node(2), l.Node(3)
	vip := netip.MustParseAddr("10.99.0.200")
	add := func(n *Node) span {
		return timed(func() { n.MustExec(t, "ip", "addr", "add", vip.String()+"/24", "dev", n.Iface) })
	}
	del := func(n *Node) span {
		return timed(func() { n.MustExec(t, "ip", "addr", "del", vip.String()+"/24", "dev", n.Iface) })
	}

	add(n1) // present before the watch: the initial dump must see it
	w := l.WatchHolders(vip)
	from := add(n2)
	time.Sleep(200 * time.Millisecond)
	to := del(n1)
	// Another address on n3 and the VIP on n3's loopback are not holdings.
	n3.MustExec(t, "ip", "addr", "add", "10.99.0.201/24", "dev", n3.Iface)
	n3.MustExec(t, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
	time.Sleep(50 * time.Millisecond)
	// n2 is killed: its VIP stays in the kernel while n3 takes over. The
	// dead n2 and n3 then hold it together longer than n1 and n2 did,
	// so counting them would change both the length and the holders.
	w.Crashed(n2)
	add(n3)
	time.Sleep(600 * time.Millisecond)
	del(n2)
	w.Revived(n2)
	longest, err := w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	checkStretch(t, w, longest, from, to, n1, n2)
	if d := w.Describe(); !strings.Contains(d, n1.Name) || !strings.Contains(d, n2.Name) || !strings.Contains(d, "dead:"+n2.Name) {
		t.Errorf("description lacks the holders or the dead node: %s", d)
	}

	// Without the crash mark the same overlap counts.
	w = l.WatchHolders(vip)
	from = add(n2)
	time.Sleep(300 * time.Millisecond)
	to = del(n2)
	longest, err = w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	checkStretch(t, w, longest, from, to, n2, n3)
}

// span is when a command ran, by the test's clock.
type span struct{ start, end time.Time }

func timed(f func()) span {
	s := span{start: time.Now()}
	f()
	s.end = time.Now()
	return s
}

// checkStretch asserts the watch's longest double holding is the one
// from the change made during from to the change made during to, held
// by the nodes named.
func checkStretch(t *testing.T, w *DualWatch, longest time.Duration, from, to span, holders ...*Node) {
	t.Helper()
	min := to.start.Sub(from.end) - DualStampTolerance
	max := to.end.Sub(from.start) + DualStampTolerance
	if longest < min || longest > max {
		t.Errorf("longest double holding %v, want between %v and %v; %s", longest, min, max, w.Describe())
	}
	w.mu.Lock()
	_, _, who := w.longestLocked()
	w.mu.Unlock()
	var want []string
	for _, n := range holders {
		want = append(want, n.Name)
	}
	if strings.Join(who, " ") != strings.Join(want, " ") {
		t.Errorf("longest double holding by %v, want %v; %s", who, want, w.Describe())
	}
}

// TestLabNamesDistinct: lab names keep pid and sequence apart.
func TestLabNamesDistinct(t *testing.T) {
	a, b := New(t, 1), New(t, 1)
	if want := fmt.Sprintf("%s%d-", Prefix, os.Getpid()); a.ID == b.ID || !strings.HasPrefix(a.ID, want) || !strings.HasPrefix(b.ID, want) {
		t.Errorf("lab IDs %q and %q: want distinct, %s<pid>-<seq>", a.ID, b.ID, Prefix)
	}
}

// TestLabRemovesStale: a lab left by a test binary that died before its
// cleanup goes when the next lab is made; a live process's lab stays.
func TestLabRemovesStale(t *testing.T) {
	Skip(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1-n1", Prefix, dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	live := New(t, 1)
	if out, _ := execOut("ip", "netns", "list"); strings.Contains(out, stale) || !strings.Contains(out, live.Node(1).Name) {
		t.Errorf("after New: %s removed = %v, %s kept = %v", stale, !strings.Contains(out, stale), live.Node(1).Name, strings.Contains(out, live.Node(1).Name))
	}
}

// execOut runs a command outside the lab's own code, as an oracle.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

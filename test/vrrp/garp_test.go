package vrrp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netns"
)

// garpsFrom returns n's gratuitous ARPs for the VIP captured since t.
func garpsFrom(c *netns.Capture, since time.Time, n *netns.Node) []netns.Frame {
	return c.Since(since, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n.MAC) })
}

// bursts splits frames into groups separated by more than gap.
func bursts(fs []netns.Frame, gap time.Duration) [][]netns.Frame {
	var out [][]netns.Frame
	for i, f := range fs {
		if i == 0 || f.Time.Sub(fs[i-1].Time) > gap {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], f)
	}
	return out
}

// TestGARPRefreshBurst: a new master announces its VIP with one burst
// of Repeat gratuitous ARPs and a second, equal burst RefreshDelay later
// (keepalived's vrrp_garp_master_delay), and nothing more after that.
func TestGARPRefreshBurst(t *testing.T) {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	const repeat = 3
	const refresh = time.Second
	src := Description(t, lab, `vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    nodes: [n1, n2]
    advertInterval: 100ms
    garp: {repeat: 3, interval: 10ms, refreshDelay: 1s}
`)
	// n2 starts once n1 is master, so a slow start of n1 cannot make n2
	// master for a moment (their Master_Down_Intervals differ by 20ms).
	start(t, src, n1)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	start(t, src, n2)
	first, err := firstAdvert(capture, time.Time{}, n1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The refresh burst, then evidence that n1 ran well past when a
	// third burst would come (RefreshDelay after the second): its advert
	// from then on. Timed by the capture, not by how long the test slept.
	fromN1 := func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n1.MAC) }
	refreshed, err := capture.Wait(first.Time.Add(refresh), fromN1, refresh+5*time.Second)
	if err != nil {
		t.Fatalf("no refresh burst: %v", err)
	}
	if _, err := capture.Wait(refreshed.Time.Add(refresh+300*time.Millisecond), func(f *netns.Frame) bool {
		return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC)
	}, refresh+5*time.Second); err != nil {
		t.Fatalf("master stopped advertising after the refresh burst: %v", err)
	}
	got := bursts(garpsFrom(capture, time.Time{}, n1), 300*time.Millisecond)
	if len(got) != 2 {
		t.Fatalf("%d bursts of gratuitous ARPs, want 2 (at mastership and %v later): %v", len(got), refresh, burstTimes(got, first.Time))
	}
	for i, b := range got {
		if len(b) != repeat {
			t.Errorf("burst %d has %d gratuitous ARPs, want %d", i+1, len(b), repeat)
		}
		// interval 10ms: the burst spans (repeat-1) intervals, not less.
		if span := b[len(b)-1].Time.Sub(b[0].Time); span < (repeat-1)*10*time.Millisecond-2*time.Millisecond {
			t.Errorf("burst %d spans %v, want at least %v (garp interval 10ms)", i+1, span, (repeat-1)*10*time.Millisecond)
		}
	}
	// The first burst follows the first advert (within an advert
	// interval: how soon is the engine's overhead, a benchmark); the
	// second comes RefreshDelay after the first (timers never fire early).
	if d := got[0][0].Time.Sub(first.Time); d < 0 || d > fast {
		t.Errorf("first gratuitous ARP %v after the first advert, want after it and within one advert interval (%v)", d, fast)
	}
	if d := got[1][0].Time.Sub(got[0][0].Time); d < refresh || d > refresh+300*time.Millisecond {
		t.Errorf("refresh burst %v after the first, want %v (+300ms slack)", d, refresh)
	}
	if g := garpsFrom(capture, time.Time{}, n2); len(g) != 0 {
		t.Errorf("backup sent %d gratuitous ARPs", len(g))
	}
}

func burstTimes(bs [][]netns.Frame, ref time.Time) []string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%d at %v", len(b), b[0].Time.Sub(ref)))
	}
	return out
}

// TestSplitBrainHeal: a partition makes both nodes master (both hold the
// VIP); when it heals, the higher-priority master hears the other's
// lower-priority advert and re-asserts at once with a fresh burst of
// gratuitous ARPs, the other yields and removes its VIP, and exactly one
// master remains. The heal is staged, n2→n1 first: if n2 heard n1 first
// it would yield silently and n1 would never see the lower advert (a
// race on a real network too; the test makes the re-assert path certain).
func TestSplitBrainHeal(t *testing.T) {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	src := Description(t, lab, `vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    priorities: {n1: 200, n2: 100}
    advertInterval: 100ms
    garp: {repeat: 3, refreshDelay: 0s}
`)
	hs := start(t, src, n1, n2)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)

	// Partition: neither node receives the other's adverts.
	for _, n := range []*netns.Node{n1, n2} {
		if err := lab.SetMulticastFlood(n, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		lab.SetMulticastFlood(n1, true)
		lab.SetMulticastFlood(n2, true)
	})
	if _, err := n2.WaitAddr(n2.Iface, vip4, true, failoverBound(fast)); err != nil {
		t.Fatalf("partitioned backup did not become master: %v", err)
	}
	if h, err := lab.Holders(vip4); err != nil || len(h) != 2 {
		t.Fatalf("during the partition %d nodes hold the VIP (%v), want both", len(h), err)
	}
	time.Sleep(3 * fast)

	// Heal n2→n1: n1 hears n2's priority-100 advert and re-asserts. An
	// advert may cross the bridge while ip is still running, so t0 is
	// taken before the change, and the re-announcement is paired with
	// the advert that caused it: n2's last one before n1's first
	// gratuitous ARP since t0 (n1 announces nothing else meanwhile).
	t0 := time.Now()
	if err := lab.SetMulticastFlood(n1, true); err != nil {
		t.Fatal(err)
	}
	fromN1 := func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n1.MAC) }
	garp, err := capture.Wait(t0, fromN1, 2*time.Second)
	if err != nil {
		t.Fatalf("master did not re-announce after hearing a lower-priority advert: %v", err)
	}
	lower, ok := lastAdvertBefore(capture, garp.Time, n2)
	if !ok || lower.Time.Before(t0) {
		t.Fatalf("n1 re-announced at %v without an advert from n2 since the heal began", garp.Time.Sub(t0))
	}
	if d := garp.Time.Sub(lower.Time); d > 50*time.Millisecond {
		t.Errorf("re-announcement %v after the lower-priority advert, want at once", d)
	}
	// The re-assertion sends a full burst, not a partial one.
	if ann := bursts(capture.Since(garp.Time, fromN1), 50*time.Millisecond); len(ann[0]) != 3 {
		t.Errorf("re-announcement bursts %v, want a first burst of 3", burstTimes(ann, lower.Time))
	}
	// Heal n1→n2: n2 yields.
	if err := lab.SetMulticastFlood(n2, true); err != nil {
		t.Fatal(err)
	}
	d := mustHolder(t, lab, vip4, n1, 2*time.Second)
	t.Logf("single master %v after the full heal", d)
	if err := hs[1].WaitStatus(`"state": "backup"`, 3*time.Second); err != nil {
		t.Error(err)
	}
	stays(t, lab, vip4, n1, 5*fast)
	// No more announcements from n1 over its next 3 adverts: a window
	// the capture proves n1 was running in, however slow the machine.
	quiet := time.Now()
	last, err := capture.Wait(quiet, func(f *netns.Frame) bool {
		return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC) && f.Time.Sub(quiet) >= 3*fast
	}, 5*time.Second)
	if err != nil {
		t.Fatalf("master stopped advertising: %v", err)
	}
	if g := garpsFrom(capture, quiet, n1); len(g) != 0 {
		t.Errorf("master still re-announcing after the heal: %d gratuitous ARPs in the %v before its advert at %v",
			len(g), last.Time.Sub(quiet), last.Time.Format("15:04:05.000"))
	}
}

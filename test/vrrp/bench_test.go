package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netns"
)

// The harnesses in this file measure; they assert only that each run
// completed. They are opt-in (environment variables) because they take
// minutes: HKV_BENCH=1 for TestFailoverTable and TestIdleCost, HKV_SOAK=10m
// for TestSoak. HKV_BENCH_RUNS sets the runs per cell (default 5).

func benchOnly(t *testing.T) {
	if os.Getenv("HKV_BENCH") == "" {
		t.Skip("set HKV_BENCH=1 to run the failover/idle measurements")
	}
}

func benchRuns() int {
	if n, err := strconv.Atoi(os.Getenv("HKV_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// daemon abstracts the two implementations for the same scenario.
type daemon interface {
	crash(t *testing.T)
	stop(t *testing.T)
}

type hkDaemon struct{ h *Hakeeper }

func (d hkDaemon) crash(t *testing.T) { d.h.Kill(); d.h.Wait(5 * time.Second) }
func (d hkDaemon) stop(t *testing.T)  { d.h.Signal(syscall.SIGTERM) }

type kaDaemon struct{ k *netns.Keepalived }

func (d kaDaemon) crash(t *testing.T) { d.k.Crash(); d.k.Wait(5 * time.Second) }
func (d kaDaemon) stop(t *testing.T)  { d.k.Stop() }

type impl struct {
	name  string
	start func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration) daemon
}

var impls = []impl{
	{"hakeeper", func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration) daemon {
		src := Description(t, lab, fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    priorities: {n1: 200, n2: 100}
    advertInterval: %v
    garp: {refreshDelay: 0s}
`, adv))
		return hkDaemon{StartHakeeper(t, n, src)}
	}},
	{"keepalived", func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration) daemon {
		conf := KeepalivedConf(n, KeepalivedInstance{Name: "web", VRID: 51, Priority: prio,
			Advert: strconv.FormatFloat(adv.Seconds(), 'f', -1, 64), Version: 3, VIPs: []string{"10.99.0.100/24"}})
		return kaDaemon{n.StartKeepalived(t, conf)}
	}},
}

// sample is one failover: VIP visible on the new master, its first
// gratuitous ARP on the wire, and the engine overhead (first GARP minus
// the moment the master-down timer should have expired, derived from the
// old master's last advert on the wire).
type sample struct{ vip, garp, overhead time.Duration }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// measure runs one failover of kind "crash" or "graceful" in a fresh lab.
func measure(t *testing.T, im impl, kind string, adv time.Duration) sample {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	master := im.start(t, lab, n1, 200, adv)
	mustHolder(t, lab, vip4, n1, failoverBound(adv)+3*time.Second)
	im.start(t, lab, n2, 100, adv)
	time.Sleep(3 * adv) // the backup has seen the master
	t0 := time.Now()
	if kind == "crash" {
		master.crash(t)
		// A dead machine's VIP is gone from the segment.
		n1.Exec("ip", "addr", "del", "10.99.0.100/24", "dev", n1.Iface)
	} else {
		master.stop(t)
	}
	vipAt := mustHolder(t, lab, vip4, n2, failoverBound(adv))
	g, err := capture.Wait(t0, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n2.MAC) }, 2*time.Second)
	if err != nil {
		t.Fatalf("%s %s: no GARP from the new master", im.name, kind)
	}
	s := sample{vip: vipAt, garp: g.Time.Sub(t0)}
	last := advertsFrom(capture, time.Time{}, n1)
	if len(last) > 0 {
		lastAdvert := last[len(last)-1].Time
		expiry := lastAdvert.Add(3*adv + (256-100)*adv/256)
		if kind == "graceful" {
			// After a priority-0 advert the backup waits only the skew time.
			expiry = lastAdvert.Add((256 - 100) * adv / 256)
		}
		s.overhead = g.Time.Sub(expiry)
	}
	return s
}

// TestFailoverTable prints crash and graceful failover medians of
// hakeeper and keepalived side by side, v3 at 1s and 100ms adverts.
func TestFailoverTable(t *testing.T) {
	benchOnly(t)
	netns.Skip(t)
	netns.SkipNoKeepalived(t)
	runs := benchRuns()
	type row struct {
		impl, kind string
		adv        time.Duration
		vip, garp  time.Duration
		overhead   time.Duration
	}
	var rows []row
	for _, adv := range []time.Duration{time.Second, 100 * time.Millisecond} {
		for _, kind := range []string{"crash", "graceful"} {
			for _, im := range impls {
				var vips, garps, ovs []time.Duration
				for i := 0; i < runs; i++ {
					var s sample
					t.Run(fmt.Sprintf("%s/%s/%v/%d", im.name, kind, adv, i), func(t *testing.T) {
						s = measure(t, im, kind, adv)
					})
					vips, garps, ovs = append(vips, s.vip), append(garps, s.garp), append(ovs, s.overhead)
				}
				rows = append(rows, row{im.name, kind, adv, median(vips), median(garps), median(ovs)})
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nfailover medians over %d runs (v3; ms from SIGKILL/SIGTERM of the master)\n", runs)
	fmt.Fprintf(&b, "%-10s %-9s %-7s %10s %12s %18s\n", "impl", "kind", "advert", "VIP up", "first GARP", "GARP - timer exp.")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s %-9s %-7v %10.1f %12.1f %18.1f\n", r.impl, r.kind, r.adv,
			ms(r.vip), ms(r.garp), ms(r.overhead))
	}
	fmt.Print(b.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procUsage reads a process's CPU ticks (user+system) and RSS in KiB.
func procUsage(pid int) (ticks int64, rssKiB int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields[0] is state (field 3); utime and stime are fields 14 and 15.
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			rssKiB, _ = strconv.ParseInt(strings.Fields(l)[1], 10, 64)
		}
	}
	return ut + st, rssKiB, nil
}

// idle measures pids' CPU% (of one core) and total RSS over d.
func idle(t *testing.T, pids []int, d time.Duration) (cpu float64, rss int64) {
	const hz = 100 // USER_HZ on Linux
	var t0 int64
	for _, p := range pids {
		tk, _, err := procUsage(p)
		if err != nil {
			t.Fatal(err)
		}
		t0 += tk
	}
	time.Sleep(d)
	var t1 int64
	for _, p := range pids {
		tk, r, err := procUsage(p)
		if err != nil {
			t.Fatal(err)
		}
		t1 += tk
		rss += r
	}
	return float64(t1-t0) / hz / d.Seconds() * 100, rss
}

// TestIdleCost prints CPU% and RSS of the master with 100 groups at 1s
// adverts, hakeeper beside keepalived.
func TestIdleCost(t *testing.T) {
	benchOnly(t)
	netns.Skip(t)
	netns.SkipNoKeepalived(t)
	const groups = 100
	window := 20 * time.Second
	// One lab per implementation, so neither pays for the other's adverts.
	hkLab, kaLab := netns.New(t, 2), netns.New(t, 2)
	var body strings.Builder
	body.WriteString("vipGroups:\n")
	var kaInsts []KeepalivedInstance
	for i := 1; i <= groups; i++ {
		fmt.Fprintf(&body, "  g%d:\n    vrid: %d\n    vips: [10.98.0.%d/32]\n    nodes: [n1, n2]\n", i, i, i)
		kaInsts = append(kaInsts, KeepalivedInstance{Name: fmt.Sprintf("g%d", i), VRID: i, Priority: 200,
			Advert: "1", Version: 3, VIPs: []string{fmt.Sprintf("10.98.0.%d/32", i)}})
	}
	src := Description(t, hkLab, body.String())
	hk := StartHakeeper(t, hkLab.Node(1), src)
	StartHakeeper(t, hkLab.Node(2), src)
	ka := kaLab.Node(1).StartKeepalived(t, KeepalivedConf(kaLab.Node(1), kaInsts...))
	for i := range kaInsts {
		kaInsts[i].Priority = 100
	}
	kaLab.Node(2).StartKeepalived(t, KeepalivedConf(kaLab.Node(2), kaInsts...))
	// Settle: every group elected (3 adverts + skew) and GARP bursts done.
	last := netip.AddrFrom4([4]byte{10, 98, 0, groups})
	mustHolder(t, hkLab, last, hkLab.Node(1), 15*time.Second)
	mustHolder(t, kaLab, last, kaLab.Node(1), 15*time.Second)
	time.Sleep(7 * time.Second)

	hkCPU, hkRSS := idle(t, []int{hk.Pid()}, window)
	kaPid, err := ka.VRRPPid()
	if err != nil {
		t.Fatal(err)
	}
	kaCPU, kaRSS := idle(t, []int{ka.Pid(), kaPid}, window)
	out := fmt.Sprintf("\nidle master, %d groups, 1s adverts, %v window\n%-10s %8s %10s\n%-10s %7.2f%% %7d KiB\n%-10s %7.2f%% %7d KiB (parent + VRRP child)\n",
		groups, window, "impl", "CPU", "RSS", "hakeeper", hkCPU, hkRSS, "keepalived", kaCPU, kaRSS)
	fmt.Print(out)
}

// TestSoak runs 20ms v3 adverts for HKV_SOAK (e.g. 10m) beside CPU hogs
// (HKV_SOAK_HOGS busy loops, default 1) and fails if any hakeeper
// instance changed state after the election. keepalived runs the same
// scenario at the same time in its own lab, for comparison only.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("HKV_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set HKV_SOAK=10m to run the soak")
	}
	hogs := 1
	if n, err := strconv.Atoi(os.Getenv("HKV_SOAK_HOGS")); err == nil && n >= 0 {
		hogs = n
	}
	lab := netns.New(t, 2)
	src := Description(t, lab, `vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    nodes: [n1, n2]
    advertInterval: 20ms
`)
	hs := start(t, src, lab.Node(1), lab.Node(2))
	var kas []*netns.Keepalived
	var kaLab *netns.Lab
	if _, err := exec.LookPath("keepalived"); err == nil {
		kaLab = netns.New(t, 2)
		for i, prio := range []int{200, 100} {
			n := kaLab.Node(i + 1)
			kas = append(kas, n.StartKeepalived(t, KeepalivedConf(n, KeepalivedInstance{Name: "web", VRID: 51,
				Priority: prio, Advert: "0.02", Version: 3, VIPs: []string{"10.99.0.100/24"}})))
		}
		mustHolder(t, kaLab, vip4, kaLab.Node(1), 5*time.Second)
	}
	mustHolder(t, lab, vip4, lab.Node(1), 5*time.Second)
	time.Sleep(time.Second)
	before := transitions(hs[0]) + transitions(hs[1])
	kaBefore := kaTransitions(kas)
	for i := 0; i < hogs; i++ {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hog.Process.Kill(); hog.Wait() })
	}
	dual := lab.WatchDual(vip4, 10*time.Millisecond)
	time.Sleep(dur)
	longest, _ := dual.Stop()
	got := transitions(hs[0]) + transitions(hs[1]) - before
	out := fmt.Sprintf("\nsoak %v, v3 20ms adverts, %d CPU hog(s)\nhakeeper:   %d transitions, longest double holding %v\n", dur, hogs, got, longest)
	if kas != nil {
		out += fmt.Sprintf("keepalived: %d transitions (same conditions, for comparison)\n", kaTransitions(kas)-kaBefore)
	}
	fmt.Print(out)
	if got != 0 {
		t.Errorf("%d hakeeper state transitions during the soak, want 0", got)
	}
}

// transitions counts the engine's logged state transitions.
func transitions(h *Hakeeper) int {
	return strings.Count(h.Output(), `msg="vrrp transition"`)
}

// kaTransitions counts keepalived's logged state changes.
func kaTransitions(kas []*netns.Keepalived) int {
	n := 0
	for _, k := range kas {
		out := k.Output()
		n += strings.Count(out, "Entering MASTER STATE") + strings.Count(out, "Entering BACKUP STATE") +
			strings.Count(out, "Entering FAULT STATE")
	}
	return n
}

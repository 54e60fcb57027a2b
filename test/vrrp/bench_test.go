package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netns"
)

// The harnesses in this file measure; they assert only that each run
// completed and print their figures. They are opt-in (environment
// variables) because they take minutes:
//
//	HKV_BENCH=1           TestFailoverTable and TestIdleCost
//	HKV_BENCH_RUNS=N      runs per cell of the table (default 5)
//	HKV_BENCH_REALTIME=1  both daemons real-time in the table (hakeeper
//	                      --realtime, keepalived vrrp_rt_priority)
//	HKV_SOAK=10m          TestSoak for that long
//	HKV_SOAK_HOGS=N       CPU hogs beside the soak (default 1)
//	HKV_SOAK_REALTIME=0   soak without real-time scheduling (default on)

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

// rtPriority is the SCHED_RR priority both daemons get when real-time
// scheduling is on (hakeeper --realtime=10, keepalived vrrp_rt_priority 10).
const rtPriority = 10

// daemon abstracts the two implementations for the same scenario.
type daemon interface {
	crash(t *testing.T)
	stop(t *testing.T)
	// transitions counts logged state changes so far.
	transitions() int
}

type hkDaemon struct{ h *Hakeeper }

func (d hkDaemon) crash(t *testing.T) { d.h.Kill(); d.h.Wait(5 * time.Second) }
func (d hkDaemon) stop(t *testing.T)  { d.h.Signal(syscall.SIGTERM) }
func (d hkDaemon) transitions() int {
	return strings.Count(d.h.Output(), `msg="vrrp transition"`)
}

type kaDaemon struct{ k *netns.Keepalived }

func (d kaDaemon) crash(t *testing.T) { d.k.Crash(); d.k.Wait(5 * time.Second) }
func (d kaDaemon) stop(t *testing.T)  { d.k.Stop() }
func (d kaDaemon) transitions() int {
	out := d.k.Output()
	return strings.Count(out, "Entering MASTER STATE") + strings.Count(out, "Entering BACKUP STATE") +
		strings.Count(out, "Entering FAULT STATE")
}

// impl starts one implementation on node n of a two-node lab: VRID 51,
// VIP 10.99.0.100/24, v3, n1 at priority 200 and n2 at 100, advert adv,
// real-time when rt is set. Both are configured identically.
type impl struct {
	name  string
	start func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration, rt bool) daemon
}

var impls = []impl{
	{"hakeeper", func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration, rt bool) daemon {
		src := Description(t, lab, fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    priorities: {n1: 200, n2: 100}
    advertInterval: %v
    garp: {refreshDelay: 0s}
`, adv))
		var args []string
		if rt {
			args = append(args, fmt.Sprintf("--realtime=%d", rtPriority))
		}
		h := StartHakeeperArgs(t, n, src, args)
		if err := h.WaitOutput("running", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		return hkDaemon{h}
	}},
	{"keepalived", func(t *testing.T, lab *netns.Lab, n *netns.Node, prio int, adv time.Duration, rt bool) daemon {
		g := KeepalivedGlobals{}
		if rt {
			g.RTPriority = rtPriority
		}
		conf := KeepalivedConfWith(n, g, KeepalivedInstance{Name: "web", VRID: 51, Priority: prio,
			Advert: strconv.FormatFloat(adv.Seconds(), 'f', -1, 64), Version: 3, VIPs: []string{"10.99.0.100/24"}})
		return kaDaemon{n.StartKeepalived(t, conf)}
	}},
}

// sample is one failover as the wire and the new master's kernel saw it.
type sample struct {
	// failover: crash — the dead master's last advert to the VIP in the
	// new master's kernel (Master_Down_Interval plus the engine's
	// reaction; the crash's phase within an advert interval is left
	// out, it is luck, not implementation); graceful — the priority-0
	// advert to the VIP.
	failover time.Duration
	// overVIP, overGARP: when the master-down timer should have expired
	// (last advert + Master_Down_Interval, or priority-0 advert +
	// Skew_Time) to the VIP in the kernel and to the first gratuitous
	// ARP on the wire: what the engine adds to the RFC's timers.
	overVIP, overGARP time.Duration
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// measure runs one failover of kind "crash" or "graceful" in a fresh lab.
func measure(t *testing.T, im impl, kind string, adv time.Duration, rt bool) sample {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	addrs := n2.WatchAddrs(t)
	// Both start as backups; n1's shorter Master_Down_Interval elects it.
	master := im.start(t, lab, n1, 200, adv, rt)
	im.start(t, lab, n2, 100, adv, rt)
	mustHolder(t, lab, vip4, n1, failoverBound(adv)+3*time.Second)
	time.Sleep(adv + 100*time.Millisecond) // n2 has heard the master
	t0 := time.Now()
	if kind == "crash" {
		master.crash(t)
		// A dead machine's VIP is gone from the segment.
		n1.Exec("ip", "addr", "del", "10.99.0.100/24", "dev", n1.Iface)
	} else {
		master.stop(t)
	}
	mustHolder(t, lab, vip4, n2, failoverBound(adv))
	vipAt, err := addrs.WaitAdded(vip4, t0, time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", im.name, kind, err)
	}
	g, err := capture.Wait(t0, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n2.MAC) }, 2*time.Second)
	if err != nil {
		t.Fatalf("%s %s: no GARP from the new master", im.name, kind)
	}
	var from, expiry time.Time
	if kind == "crash" {
		last, ok := lastAdvertBefore(capture, g.Time, n1)
		if !ok {
			t.Fatalf("%s crash: no advert from the master captured", im.name)
		}
		from, expiry = last.Time, last.Time.Add(masterDownInterval(3, 100, adv))
	} else {
		zero, err := capture.Wait(t0, func(f *netns.Frame) bool {
			return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC) && advertPriority(f) == 0
		}, time.Second)
		if err != nil {
			t.Fatalf("%s graceful: no priority-0 advert: %v", im.name, err)
		}
		from, expiry = zero.Time, zero.Time.Add(skewTime(3, 100, adv))
	}
	return sample{failover: vipAt.Sub(from), overVIP: vipAt.Sub(expiry), overGARP: g.Time.Sub(expiry)}
}

// scenario is one row group of the table.
type scenario struct {
	kind string
	adv  time.Duration
}

func (s scenario) String() string { return fmt.Sprintf("%s, %v adverts", s.kind, s.adv) }

var scenarios = []scenario{
	{"crash", time.Second}, {"crash", 100 * time.Millisecond}, {"crash", 20 * time.Millisecond},
	{"graceful", time.Second}, {"graceful", 100 * time.Millisecond},
}

// tableRow is one line of the printed table.
type tableRow struct {
	what     string
	hk, ka   time.Duration
	goal     string
	met      bool
	hasGoal  bool
	hasRatio bool
}

// TestFailoverTable prints failover medians of hakeeper and keepalived
// side by side (v3, crash and graceful, 1s/100ms/20ms adverts, engine
// overhead), with the goals and whether they are met.
func TestFailoverTable(t *testing.T) {
	benchOnly(t)
	netns.Skip(t)
	netns.SkipNoKeepalived(t)
	runs := benchRuns()
	rt := os.Getenv("HKV_BENCH_REALTIME") == "1"
	loadBefore := loadAverage()
	type medians struct{ failover, overVIP, overGARP time.Duration }
	got := map[string]map[scenario]medians{}
	for _, sc := range scenarios {
		for _, im := range impls {
			var fo, ov, og []time.Duration
			for i := 0; i < runs; i++ {
				t.Run(fmt.Sprintf("%s/%s/%v/%d", im.name, sc.kind, sc.adv, i), func(t *testing.T) {
					s := measure(t, im, sc.kind, sc.adv, rt)
					fo, ov, og = append(fo, s.failover), append(ov, s.overVIP), append(og, s.overGARP)
				})
			}
			if got[im.name] == nil {
				got[im.name] = map[scenario]medians{}
			}
			got[im.name][sc] = medians{median(fo), median(ov), median(og)}
		}
	}
	var rows []tableRow
	for _, sc := range scenarios {
		hk, ka := got["hakeeper"][sc], got["keepalived"][sc]
		r := tableRow{what: sc.String() + ": failover", hk: hk.failover, ka: ka.failover, hasRatio: true}
		switch {
		case sc.kind == "crash" && sc.adv == 20*time.Millisecond:
			r.goal, r.hasGoal, r.met = "< 100 ms and ≤ keepalived", true, hk.failover < 100*time.Millisecond && hk.failover <= ka.failover
		case sc.kind == "crash":
			r.goal, r.hasGoal, r.met = "≤ keepalived", true, hk.failover <= ka.failover
		default:
			limit := skewTime(3, 100, sc.adv) + 10*time.Millisecond
			r.goal, r.hasGoal, r.met = fmt.Sprintf("< skew+10ms = %.1f ms", ms(limit)), true, hk.failover < limit
		}
		rows = append(rows, r)
	}
	for _, sc := range scenarios {
		hk, ka := got["hakeeper"][sc], got["keepalived"][sc]
		rows = append(rows,
			tableRow{what: sc.String() + ": timer expiry → VIP", hk: hk.overVIP, ka: ka.overVIP,
				goal: "< 5 ms", hasGoal: true, met: hk.overVIP < 5*time.Millisecond},
			tableRow{what: sc.String() + ": timer expiry → GARP", hk: hk.overGARP, ka: ka.overGARP,
				goal: "< 5 ms", hasGoal: true, met: hk.overGARP < 5*time.Millisecond})
	}
	mode := "default scheduling"
	if rt {
		mode = fmt.Sprintf("both real-time, SCHED_RR %d", rtPriority)
	}
	// The figures mean little on a loaded machine: say how loaded it was.
	mode += fmt.Sprintf("; load average %s before, %s after", loadBefore, loadAverage())
	fmt.Print(formatTable(rows, runs, mode))
}

// loadAverage returns the 1, 5 and 15-minute load averages, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// formatTable renders the failover table.
func formatTable(rows []tableRow, runs int, mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nVRRPv3 failover, medians of %d runs, ms (%s)\n", runs, mode)
	b.WriteString("failover: crash = dead master's last advert → VIP in the new master's kernel; graceful = priority-0 advert → VIP\n")
	b.WriteString("timer expiry = last advert + Master_Down_Interval (crash) or priority-0 advert + Skew_Time (graceful), backup priority 100\n")
	fmt.Fprintf(&b, "%-44s %10s %10s %7s  %-28s %s\n", "scenario", "hakeeper", "keepalived", "hk/ka", "goal", "met?")
	for _, r := range rows {
		ratio := "-"
		if r.hasRatio && r.ka > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.hk)/float64(r.ka))
		}
		met := "-"
		if r.hasGoal {
			met = "no"
			if r.met {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "%-44s %10.1f %10.1f %7s  %-28s %s\n", r.what, ms(r.hk), ms(r.ka), ratio, r.goal, met)
	}
	return b.String()
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

// gapStats summarises the intervals between one node's adverts on the
// wire: the master's scheduling jitter as the backup sees it.
type gapStats struct {
	n                   int
	p50, p99, p999, max time.Duration
	// late counts gaps longer than the backup's Master_Down_Interval:
	// each one lets the backup take over.
	late int
}

func advertGaps(c *netns.Capture, since time.Time, n *netns.Node, mdi time.Duration) gapStats {
	ads := advertsFrom(c, since, n)
	var gaps []time.Duration
	for i := 1; i < len(ads); i++ {
		gaps = append(gaps, ads[i].Time.Sub(ads[i-1].Time))
	}
	if len(gaps) == 0 {
		return gapStats{}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	at := func(q float64) time.Duration { return gaps[min(len(gaps)-1, int(q*float64(len(gaps))))] }
	s := gapStats{n: len(gaps), p50: at(0.5), p99: at(0.99), p999: at(0.999), max: gaps[len(gaps)-1]}
	for _, g := range gaps {
		if g > mdi {
			s.late++
		}
	}
	return s
}

func (s gapStats) String() string {
	return fmt.Sprintf("%d gaps: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms, %d longer than Master_Down_Interval",
		s.n, ms(s.p50), ms(s.p99), ms(s.p999), ms(s.max), s.late)
}

// TestSoak runs 20ms v3 adverts for HKV_SOAK (e.g. 10m) beside CPU hogs
// (HKV_SOAK_HOGS busy loops, default 1) and fails if any hakeeper
// instance changed state after the election. Both daemons run
// real-time (hakeeper --realtime, keepalived vrrp_rt_priority and
// vrrp_no_swap) unless HKV_SOAK_REALTIME=0. keepalived runs the same
// scenario at the same time in its own lab, for comparison only. The
// master's advert gaps on the wire are printed for both: a gap longer
// than Master_Down_Interval is a late master, a transition without one
// is a late backup.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("HKV_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set HKV_SOAK=10m to run the soak")
	}
	hogs := 1
	if n, err := strconv.Atoi(os.Getenv("HKV_SOAK_HOGS")); err == nil && n >= 0 {
		hogs = n
	}
	rt := os.Getenv("HKV_SOAK_REALTIME") != "0"
	const adv = 20 * time.Millisecond
	mdi := masterDownInterval(3, 100, adv)
	type side struct {
		name    string
		lab     *netns.Lab
		capture *netns.Capture
		ds      []daemon
	}
	var sides []*side
	for _, im := range impls {
		if im.name == "keepalived" {
			if _, err := exec.LookPath("keepalived"); err != nil {
				continue
			}
		}
		lab := netns.New(t, 2)
		s := &side{name: im.name, lab: lab, capture: lab.Capture(t)}
		for i, prio := range []int{200, 100} {
			s.ds = append(s.ds, im.start(t, lab, lab.Node(i+1), prio, adv, rt))
		}
		sides = append(sides, s)
	}
	for _, s := range sides {
		mustHolder(t, s.lab, vip4, s.lab.Node(1), 5*time.Second)
	}
	time.Sleep(time.Second)
	before := make([]int, len(sides))
	for i, s := range sides {
		for _, d := range s.ds {
			before[i] += d.transitions()
		}
	}
	for i := 0; i < hogs; i++ {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hog.Process.Kill(); hog.Wait() })
	}
	start := time.Now()
	var duals []*netns.DualWatch
	for _, s := range sides {
		duals = append(duals, s.lab.WatchHolders(vip4))
	}
	time.Sleep(dur)
	mode := "default scheduling"
	if rt {
		mode = fmt.Sprintf("real-time: hakeeper --realtime=%d, keepalived vrrp_rt_priority %d + vrrp_no_swap", rtPriority, rtPriority)
	}
	out := fmt.Sprintf("\nsoak %v, v3 20ms adverts (Master_Down_Interval %v), %d CPU hog(s), %s, load average %s\n", dur, mdi, hogs, mode, loadAverage())
	var hkTransitions int
	for i, s := range sides {
		got := -before[i]
		for _, d := range s.ds {
			got += d.transitions()
		}
		longest, _ := duals[i].Stop()
		out += fmt.Sprintf("%-10s %d transitions, longest double holding %v\n%-10s master's adverts: %v\n",
			s.name, got, longest, "", advertGaps(s.capture, start, s.lab.Node(1), mdi))
		if s.name == "hakeeper" {
			hkTransitions = got
		}
	}
	fmt.Print(out)
	if hkTransitions != 0 {
		t.Errorf("%d hakeeper state transitions during the soak, want 0", hkTransitions)
	}
}

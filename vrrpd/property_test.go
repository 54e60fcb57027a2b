package vrrpd_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// TestPropertyRandomEvents drives 2–4 engines through random crashes
// (machine: addresses gone; process: SIGKILL, addresses and VIP record
// left behind), restarts, graceful stops, priority and VIP-list changes
// and partitions, then lets the network be stable and checks what the
// fakes observed:
//   - exactly one live master per VRID, and it alone holds the VIP and
//     sends adverts (never two masters, never none);
//   - no node that is not master holds a VIP, including VIPs a killed
//     process left behind and VIPs no longer configured on the node;
//   - the administrator's address on every node is never removed;
//   - with preemption, the master has the highest live priority; a live
//     address owner is master with or without it.
//
// Link faults (the instance's own interface down, healed before the
// network turns stable) and, in some scenarios, an address owner
// (priority 255) for one VRID join the events.
//
// A killed process is restarted (as systemd would) at a random moment or
// at the latest before the network turns stable.
//
// Each subtest is named by its seed; rerun one with
// VRRPD_SEED=<seed> go test -run TestPropertyRandomEvents ./vrrpd/
// and run more seeds with VRRPD_SEEDS=<count>.
func TestPropertyRandomEvents(t *testing.T) {
	var seeds []uint64
	if s := os.Getenv("VRRPD_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VRRPD_SEED: %v", err)
		}
		seeds = []uint64{seed}
	} else {
		n := 60
		if testing.Short() {
			n = 10
		}
		if v, err := strconv.Atoi(os.Getenv("VRRPD_SEEDS")); err == nil && v > 0 {
			n = v
		}
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runScenario(t, seed)
		})
	}
}

var propVRIDs = []uint8{1, 2}

type simNode struct {
	*node
	prio map[uint8]uint8
	// extra marks VRIDs whose VIP list on this node has a second VIP.
	extra map[uint8]bool
	live  bool
	// killed: the process was SIGKILLed and not restarted yet.
	killed bool
	// linkDown: the node's eth0 is down (its instances are in fault).
	linkDown bool
	admin    netip.Prefix
}

func mainVIP(vrid uint8) netip.Addr  { return vip(fmt.Sprintf("192.0.2.%d/24", 100+int(vrid))) }
func extraVIP(vrid uint8) netip.Addr { return vip(fmt.Sprintf("192.0.2.%d/24", 110+int(vrid))) }

func runScenario(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	l := newLab(t)
	version := 3 - rng.IntN(2) // 3 or 2
	interval := time.Second
	if version == 3 && rng.IntN(2) == 0 {
		interval = 100 * time.Millisecond
	}
	preempt := rng.IntN(3) != 0
	var trace []string
	logf := func(format string, args ...any) {
		trace = append(trace, fmt.Sprintf("%8v ", l.now())+fmt.Sprintf(format, args...))
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d: v%d interval %v preempt %v\n%s", seed, version, interval, preempt, strings.Join(trace, "\n"))
		}
	}()
	randPrio := func() uint8 { return uint8(1 + rng.IntN(254)) }
	nodes := make([]*simNode, 2+rng.IntN(3))
	instancesOf := func(n *simNode) []model.Instance {
		var out []model.Instance
		for _, vrid := range propVRIDs {
			vips := []string{mainVIP(vrid).String() + "/24"}
			if n.extra[vrid] {
				vips = append(vips, extraVIP(vrid).String()+"/24")
			}
			in := instance(vrid, n.prio[vrid], vips...)
			in.Version, in.AdvertInterval, in.Preempt = version, interval, preempt
			if version == 2 {
				in.Auth = &model.Auth{Type: "pass", SecretEnv: "pw"}
			}
			out = append(out, in)
		}
		return out
	}
	for i := range nodes {
		n := &simNode{node: l.node(i + 1), prio: map[uint8]uint8{}, extra: map[uint8]bool{}, live: true,
			admin: netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/24", 200+i))}
		n.addrs.Set("eth0", n.admin)
		for _, vrid := range propVRIDs {
			n.prio[vrid] = randPrio()
			n.extra[vrid] = rng.IntN(2) == 0
		}
		nodes[i] = n
	}
	owner := rng.IntN(3) == 0
	if owner {
		nodes[0].prio[propVRIDs[0]] = model.OwnerPriority
	}
	for _, n := range nodes {
		n.start(instancesOf(n)...)
		logf("start %s prio %v", n.name, n.prio)
	}
	logf("address owner of vrid %d: %v", propVRIDs[0], owner)
	pickWhere := func(ok func(*simNode) bool) *simNode {
		var c []*simNode
		for _, n := range nodes {
			if ok(n) {
				c = append(c, n)
			}
		}
		if len(c) == 0 {
			return nil
		}
		return c[rng.IntN(len(c))]
	}
	pick := func(live bool) *simNode { return pickWhere(func(n *simNode) bool { return n.live == live }) }
	// restart starts a dead node, sometimes with another VIP list (the
	// description changed while it was down).
	restart := func(n *simNode, why string) {
		if rng.IntN(3) == 0 {
			vrid := propVRIDs[rng.IntN(len(propVRIDs))]
			n.extra[vrid] = !n.extra[vrid]
		}
		logf("restart %s prio %v extra VIPs %v%s", n.name, n.prio, n.extra, why)
		n.start(instancesOf(n)...)
		n.live, n.killed = true, false
	}
	for round := range 3 {
		for range 8 + rng.IntN(12) {
			// Events land at random moments, often inside a failover.
			l.advance(time.Duration(rng.Int64N(int64(3 * interval))))
			switch rng.IntN(10) {
			case 0:
				if n := pick(true); n != nil {
					logf("crash %s", n.name)
					n.crash()
					n.addrs.Set("eth0", n.admin)
					n.live = false
				}
			case 7:
				if n := pick(true); n != nil {
					logf("kill %s", n.name)
					n.kill()
					n.live, n.killed = false, true
				}
			case 8:
				if n := pickWhere(func(n *simNode) bool { return n.killed }); n != nil {
					restart(n, " (after kill)")
				}
			case 9:
				n := nodes[rng.IntN(len(nodes))]
				n.linkDown = !n.linkDown
				logf("%s link down: %v", n.name, n.linkDown)
				n.links.Set("eth0", !n.linkDown)
				l.settle()
			case 1:
				if n := pick(true); n != nil {
					logf("stop %s", n.name)
					n.stop()
					n.live = false
				}
			case 2:
				if n := pick(false); n != nil {
					restart(n, "")
				}
			case 3:
				if n := pick(true); n != nil {
					vrid := propVRIDs[rng.IntN(len(propVRIDs))]
					if rng.IntN(3) == 0 || n.prio[vrid] == model.OwnerPriority {
						n.extra[vrid] = !n.extra[vrid]
						logf("reconfigure %s vrid %d extra VIP %v", n.name, vrid, n.extra[vrid])
					} else {
						n.prio[vrid] = randPrio()
						logf("reprioritise %s vrid %d → %d", n.name, vrid, n.prio[vrid])
					}
					n.reapply(func(s *model.NodeState) { s.Instances = instancesOf(n) })
				}
			case 4:
				var side []*vrrptest.Host
				var names []string
				for _, n := range nodes {
					if rng.IntN(2) == 0 {
						side = append(side, n.host)
						names = append(names, n.name)
					}
				}
				logf("partition %v", names)
				l.net.Partition(side)
			case 5:
				logf("heal")
				l.net.Heal()
			default:
				d := time.Duration(rng.Int64N(int64(5 * interval)))
				logf("advance %v", d)
				l.advance(d)
			}
		}
		l.net.Heal()
		for _, n := range nodes {
			if n.linkDown {
				logf("%s link up (heal)", n.name)
				n.linkDown = false
				n.links.Set("eth0", true)
				l.settle()
			}
			if n.killed {
				restart(n, " (supervisor)")
			}
		}
		if pick(true) == nil {
			restart(nodes[rng.IntN(len(nodes))], " (none live)")
		}
		logf("stable from here")
		// Long enough for any backup's master-down timer plus a preemption.
		l.advance(10*interval + 2*time.Second)
		checkStable(t, l, nodes, preempt, interval, round)
		if t.Failed() {
			return
		}
	}
}

// checkStable watches a stable network for a while, asserting the invariants at every half interval.
func checkStable(t *testing.T, l *lab, nodes []*simNode, preempt bool, interval time.Duration, round int) {
	t.Helper()
	windowStart := l.now()
	var master map[uint8]*simNode
	for step := range 20 {
		l.advance(interval / 2)
		cur := map[uint8]*simNode{}
		for _, vrid := range propVRIDs {
			var masters []string
			maxPrio := uint8(0)
			for _, n := range nodes {
				if !n.addrs.Has("eth0", n.admin.Addr()) {
					t.Fatalf("round %d step %d: %s lost the administrator's address %s", round, step, n.name, n.admin)
				}
				isMaster := n.live && n.stateOf(vrid) == model.StateMaster
				state := "down"
				if n.live {
					state = string(n.stateOf(vrid))
				}
				if has := n.addrs.Has("eth0", mainVIP(vrid)); has != isMaster {
					t.Errorf("round %d step %d vrid %d: %s is %s, holds VIP: %v", round, step, vrid, n.name, state, has)
				}
				if has := n.addrs.Has("eth0", extraVIP(vrid)); has != (isMaster && n.extra[vrid]) {
					t.Errorf("round %d step %d vrid %d: %s is %s, configured with the extra VIP: %v, holds it: %v",
						round, step, vrid, n.name, state, n.extra[vrid], has)
				}
				if !n.live {
					continue
				}
				maxPrio = max(maxPrio, n.prio[vrid])
				if n.prio[vrid] == model.OwnerPriority && !isMaster {
					t.Errorf("round %d step %d vrid %d: the address owner %s is %s, preempt or not", round, step, vrid, n.name, state)
				}
				if isMaster {
					masters = append(masters, n.name)
					cur[vrid] = n
				}
			}
			if len(masters) != 1 {
				t.Fatalf("round %d step %d vrid %d: masters %v, want exactly one", round, step, vrid, masters)
			}
			if preempt && cur[vrid].prio[vrid] != maxPrio {
				t.Errorf("round %d vrid %d: master %s has priority %d, highest live is %d", round, vrid, masters[0], cur[vrid].prio[vrid], maxPrio)
			}
		}
		if master == nil {
			master = cur
		}
		for vrid, n := range cur {
			if master[vrid] != n {
				t.Fatalf("round %d vrid %d: mastership moved from %s to %s in a stable network", round, vrid, master[vrid].name, n.name)
			}
		}
	}
	// Each live engine's record lists exactly the VIPs it holds, so a
	// crash now would leave nothing it could not clean up.
	for _, n := range nodes {
		if !n.live {
			continue
		}
		var want []string
		for _, vrid := range propVRIDs {
			if n.stateOf(vrid) != model.StateMaster {
				continue
			}
			want = append(want, mainVIP(vrid).String())
			if n.extra[vrid] {
				want = append(want, extraVIP(vrid).String())
			}
		}
		var got []string
		for _, v := range n.record.VIPs() {
			got = append(got, v.Prefix.Addr().String())
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("round %d: %s's VIP record %v, it holds %v", round, n.name, got, want)
		}
	}
	// On the wire: only the masters advertised during the window.
	for _, ad := range l.adverts("", windowStart) {
		if m := master[ad.VRID]; m == nil || m.name != ad.From {
			t.Errorf("round %d: %s sent an advert for vrid %d (priority %d) in a stable network", round, ad.From, ad.VRID, ad.Priority)
		}
	}
}

// BenchmarkIdle100Groups measures the engine's CPU per simulated second
// with 100 instances on two nodes (one master of all, one backup): 100
// adverts encoded, sent, received, decoded and handled per op.
func BenchmarkIdle100Groups(b *testing.B) {
	l := newLab(b)
	m, s := l.node(1), l.node(2)
	var hi, lo []model.Instance
	for vrid := 1; vrid <= 100; vrid++ {
		hi = append(hi, instance(uint8(vrid), 200))
		lo = append(lo, instance(uint8(vrid), 100))
	}
	m.start(hi...)
	s.start(lo...)
	l.advance(10 * time.Second)
	if m.stateOf(100) != model.StateMaster {
		b.Fatal("setup did not converge")
	}
	b.ReportAllocs()
	for b.Loop() {
		l.advance(time.Second)
	}
}

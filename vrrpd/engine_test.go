package vrrpd_test

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// twoNodes returns a lab where a (priority 200) is master and b (100) backup.
func twoNodes(t *testing.T, edit func(*model.Instance)) (*lab, *node, *node) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	ia, ib := instance(1, 200), instance(1, 100)
	if edit != nil {
		edit(&ia)
		edit(&ib)
	}
	a.start(ia)
	b.start(ib)
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
		t.Fatalf("setup: a %s, b %s", a.stateOf(1), b.stateOf(1))
	}
	return l, a, b
}

func TestFaultOnTrackedInterface(t *testing.T) {
	l, a, b := twoNodes(t, func(in *model.Instance) {
		in.TrackInterfaces = []model.TrackInterface{{Interface: "uplink"}}
	})
	at := l.now()
	a.links.Set("uplink", false)
	l.settle()
	if s := a.status(1); s.State != model.StateFault || !strings.Contains(s.Reason, "uplink") {
		t.Fatalf("a %s (%s), want fault naming uplink", s.State, s.Reason)
	}
	if ads := l.adverts("n1", at); len(ads) != 1 || ads[0].Priority != 0 {
		t.Errorf("adverts on fault %+v, want one priority-0", ads)
	}
	if a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("faulted master kept the VIP")
	}
	l.advance(10 * time.Second)
	if got := l.adverts("n1", at+time.Millisecond); len(got) != 0 {
		t.Errorf("faulted node sent %d adverts", len(got))
	}
	if b.stateOf(1) != model.StateMaster {
		t.Fatalf("b is %s, want master", b.stateOf(1))
	}
	a.links.Set("uplink", true)
	l.settle()
	if a.stateOf(1) != model.StateBackup {
		t.Fatalf("a is %s after recovery, want backup", a.stateOf(1))
	}
	l.advance(10 * time.Second)
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
		t.Errorf("after recovery a %s, b %s; want a to preempt back", a.stateOf(1), b.stateOf(1))
	}
}

// The instance's own interface is tracked implicitly.
func TestFaultOnOwnInterface(t *testing.T) {
	l, a, _ := twoNodes(t, nil)
	a.links.Set("eth0", false)
	l.settle()
	if a.stateOf(1) != model.StateFault {
		t.Fatalf("a is %s with eth0 down, want fault", a.stateOf(1))
	}
}

func TestFaultOnTrackedCheck(t *testing.T) {
	check := model.TrackCheckSpec{Name: "db", Command: model.Command{Shell: "check-db"}, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 2}
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	ia := instance(1, 200)
	ia.TrackChecks = []model.TrackedCheck{{Check: "db"}}
	a.start(ia)
	a.reapply(func(s *model.NodeState) { s.Checks = []model.TrackCheckSpec{check} })
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster {
		t.Fatalf("a is %s, want master", a.stateOf(1))
	}
	a.runner.SetExit("check-db", 1)
	l.advance(2 * time.Second) // one failure: Fall is 2
	if a.stateOf(1) != model.StateMaster {
		t.Fatalf("a faulted after one failure with fall 2")
	}
	l.advance(2 * time.Second)
	if a.stateOf(1) != model.StateFault {
		t.Fatalf("a is %s after two failures, want fault", a.stateOf(1))
	}
	l.advance(time.Second)
	if b.stateOf(1) != model.StateMaster {
		t.Fatalf("b is %s, want master after a's priority-0 advert", b.stateOf(1))
	}
	a.runner.SetExit("check-db", 0)
	l.advance(2 * time.Second)
	if a.stateOf(1) != model.StateFault {
		t.Fatal("a recovered after one pass with rise 2")
	}
	l.advance(2 * time.Second)
	if a.stateOf(1) != model.StateBackup {
		t.Fatalf("a is %s after two passes, want backup", a.stateOf(1))
	}
	var checks []vrrptest.Call
	for _, c := range a.runner.Calls() {
		if c.Cmd.Shell == "check-db" {
			checks = append(checks, c)
		}
	}
	if len(checks) < 5 || checks[0].Timeout != time.Second {
		t.Errorf("check calls %+v, want ≥5 with a 1s timeout", checks)
	}
	for i := 1; i < len(checks); i++ {
		if d := checks[i].Time.Sub(checks[i-1].Time); d != 2*time.Second {
			t.Errorf("checks %v apart, want the 2s interval", d)
		}
	}
}

// A failing check with a negative weight lowers the advertised priority
// and lets a preempting backup take over.
func TestCheckWeightLowersPriority(t *testing.T) {
	check := model.TrackCheckSpec{Name: "web", Command: model.Command{Argv: []string{"/bin/check", "web"}}, Interval: time.Second, Rise: 1, Fall: 1}
	l, a, b := twoNodes(t, nil)
	a.reapply(func(s *model.NodeState) {
		s.Instances[0].TrackChecks = []model.TrackedCheck{{Check: "web", Weight: -150}}
		s.Checks = []model.TrackCheckSpec{check}
	})
	a.runner.SetExit("/bin/check web", 3)
	at := l.now()
	l.advance(1500 * time.Millisecond)
	if s := a.status(1); s.Priority != 50 || s.BasePriority != 200 {
		t.Fatalf("a priority %d/%d, want 50/200", s.Priority, s.BasePriority)
	}
	ads := l.adverts("n1", at)
	if len(ads) == 0 || ads[len(ads)-1].Priority != 50 {
		t.Fatalf("a's adverts %+v, want the last at priority 50", ads)
	}
	l.advance(10 * time.Second)
	if a.stateOf(1) != model.StateBackup || b.stateOf(1) != model.StateMaster {
		t.Fatalf("a %s, b %s; want b to preempt", a.stateOf(1), b.stateOf(1))
	}
}

func TestNotifyHooksInOrder(t *testing.T) {
	notify := model.NotifySpec{
		Master: model.Command{Shell: "on-master"}, Backup: model.Command{Shell: "on-backup"},
		Fault: model.Command{Shell: "on-fault"}, Stop: model.Command{Shell: "on-stop"},
		Timeout: 7 * time.Second, User: "hooks",
	}
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	ia := instance(1, 200)
	ia.Notify = notify
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	a.start(ia)
	l.advance(5 * time.Second)
	a.links.Set("eth0", false)
	l.settle()
	a.links.Set("eth0", true)
	l.settle()
	a.stop()
	var got []string
	for _, c := range a.runner.Calls() {
		got = append(got, c.Cmd.Shell+" "+strings.Join(c.Args, " "))
		if c.User != "hooks" || c.Timeout != 7*time.Second {
			t.Errorf("call %+v, want user hooks and 7s timeout", c)
		}
	}
	want := []string{
		"on-backup group1 backup 200",
		"on-master group1 master 200",
		"on-fault group1 fault 200",
		"on-backup group1 backup 200",
		"on-stop group1 stop 200",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hooks\n got %q\nwant %q", got, want)
	}
}

func TestSyncGroup(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	for _, n := range []struct {
		*node
		prio uint8
	}{{a, 200}, {b, 100}} {
		i1, i2 := instance(1, n.prio), instance(2, n.prio)
		i1.SyncGroup, i2.SyncGroup = "pair", "pair"
		i2.TrackInterfaces = []model.TrackInterface{{Interface: "uplink"}}
		n.start(i1, i2)
		n.reapply(func(s *model.NodeState) {
			s.SyncGroups = []model.SyncGroupSpec{{Name: "pair", Instances: []string{"group1", "group2"},
				Notify: model.NotifySpec{Master: model.Command{Shell: "pair-master"}}}}
		})
	}
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || a.stateOf(2) != model.StateMaster {
		t.Fatalf("a %s/%s, want both master", a.stateOf(1), a.stateOf(2))
	}
	// group2's uplink fails on a: group1 must leave master with it.
	a.links.Set("uplink", false)
	l.settle()
	if a.stateOf(1) != model.StateFault || a.stateOf(2) != model.StateFault {
		t.Fatalf("a %s/%s, want both fault", a.stateOf(1), a.stateOf(2))
	}
	if a.addrs.Has("eth0", vip("192.0.2.101/24")) || a.addrs.Has("eth0", vip("192.0.2.102/24")) {
		t.Error("a kept VIPs of the sync group")
	}
	l.advance(5 * time.Second)
	if b.stateOf(1) != model.StateMaster || b.stateOf(2) != model.StateMaster {
		t.Fatalf("b %s/%s, want both master", b.stateOf(1), b.stateOf(2))
	}
	a.links.Set("uplink", true)
	l.settle()
	l.advance(10 * time.Second)
	if a.stateOf(1) != model.StateMaster || a.stateOf(2) != model.StateMaster || b.stateOf(1) != model.StateBackup || b.stateOf(2) != model.StateBackup {
		t.Fatalf("after recovery a %s/%s b %s/%s", a.stateOf(1), a.stateOf(2), b.stateOf(1), b.stateOf(2))
	}
	var groupHooks int
	for _, c := range a.runner.Calls() {
		if c.Cmd.Shell == "pair-master" {
			groupHooks++
			if !slices.Equal(c.Args, []string{"pair", "master", "0"}) {
				t.Errorf("sync group hook args %q", c.Args)
			}
		}
	}
	if groupHooks != 2 {
		t.Errorf("a ran the sync group master hook %d times, want 2 (start and after recovery)", groupHooks)
	}
}

// When one member becomes master the others follow at once, without
// waiting for their own master-down timers.
func TestSyncGroupFollowsToMaster(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a1, a2 := instance(1, 200), instance(2, 200)
	b1, b2 := instance(1, 150), instance(2, 100)
	for _, in := range []*model.Instance{&a1, &a2, &b1, &b2} {
		in.SyncGroup = "pair"
	}
	a.start(a1, a2)
	b.start(b1, b2)
	l.advance(5 * time.Second)
	ads := l.adverts("n1", 0)
	last := ads[len(ads)-1].Time.Sub(epoch)
	a.crash()
	l.at(last + masterDown(150, time.Second))
	if b.stateOf(1) != model.StateMaster || b.stateOf(2) != model.StateMaster {
		t.Fatalf("b %s/%s at group1's takeover, want both master", b.stateOf(1), b.stateOf(2))
	}
	if want := epoch.Add(last + masterDown(150, time.Second)); !b.status(2).LastTransition.Equal(want) {
		t.Errorf("group2 became master at %v, want with group1 at %v", b.status(2).LastTransition, want)
	}
	if !b.addrs.Has("eth0", vip("192.0.2.102/24")) {
		t.Error("group2's VIP not added")
	}
}

// A rename changes nothing on the wire or in the kernel.
func TestReconfigRenameIsInvisible(t *testing.T) {
	l, a, _ := twoNodes(t, nil)
	before := l.adverts("n1", 0)
	adds, dels := a.addrs.Counts()
	transitions := a.status(1).Counters.Transitions
	a.reapply(func(s *model.NodeState) { s.Instances[0].Name = "renamed" })
	at := l.now()
	l.advance(3 * time.Second)
	after := l.adverts("n1", at)
	if len(after) != 3 {
		t.Fatalf("%d adverts in 3s after rename, want 3", len(after))
	}
	for _, ad := range after {
		if !bytes.Equal(ad.Payload, before[len(before)-1].Payload) {
			t.Errorf("advert changed after rename: % x vs % x", ad.Payload, before[len(before)-1].Payload)
		}
	}
	s := a.status(1)
	if s.Name != "renamed" || s.State != model.StateMaster || s.Counters.Transitions != transitions {
		t.Errorf("status %+v, want renamed master with no new transition", s)
	}
	if a2, d2 := a.addrs.Counts(); a2 != adds || d2 != dels {
		t.Errorf("address calls changed: adds %d→%d deletes %d→%d", adds, a2, dels, d2)
	}
}

func TestReconfigVIPsOnMaster(t *testing.T) {
	l, a, b := twoNodes(t, nil)
	annBefore := len(a.ann.Announcements())
	newVIP := model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.150/24"), Device: "eth0"}
	at := l.now()
	a.reapply(func(s *model.NodeState) {
		s.Instances[0].VIPs = []model.VIPSpec{newVIP} // replaces 192.0.2.101
	})
	if a.stateOf(1) != model.StateMaster {
		t.Fatal("VIP change moved the master")
	}
	if !a.addrs.Has("eth0", newVIP.Prefix.Addr()) || a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("VIPs not swapped on the master")
	}
	anns := a.ann.Announcements()[annBefore:]
	if len(anns) != 5 || !slices.Equal(anns[0].Addrs, []netip.Addr{newVIP.Prefix.Addr()}) {
		t.Errorf("announcements %v, want a burst for the new VIP only", anns)
	}
	l.advance(2 * time.Second)
	ads := l.adverts("n1", at)
	if len(ads) == 0 || !slices.Equal(ads[0].Addrs, []netip.Addr{newVIP.Prefix.Addr()}) {
		t.Errorf("adverts after the change %+v, want the new VIP list", ads)
	}
	// b still lists the old VIP: mismatch accepted and counted.
	if s := b.status(1); s.State != model.StateBackup || s.Counters.VIPMismatches == 0 {
		t.Errorf("b %+v, want backup counting VIP mismatches", s)
	}
}

// Lowering the master's priority below the backup's moves mastership
// only through the protocol: the backup ignores the lower adverts and
// takes over at its master-down interval.
func TestReconfigPriorityBelowPeer(t *testing.T) {
	l, a, b := twoNodes(t, nil)
	at := l.now()
	a.reapply(func(s *model.NodeState) { s.Instances[0].Priority = 50 })
	if a.stateOf(1) != model.StateMaster {
		t.Fatal("reconfiguration alone moved the master")
	}
	l.advance(masterDown(100, time.Second) + time.Second)
	if a.stateOf(1) != model.StateBackup || b.stateOf(1) != model.StateMaster {
		t.Fatalf("a %s, b %s; want b master", a.stateOf(1), b.stateOf(1))
	}
	if ads := l.adverts("n1", at); len(ads) == 0 || ads[0].Priority != 50 {
		t.Errorf("a's next advert should carry priority 50: %+v", ads)
	}
}

func TestReconfigAdvertInterval(t *testing.T) {
	l, a, _ := twoNodes(t, nil)
	a.reapply(func(s *model.NodeState) { s.Instances[0].AdvertInterval = 300 * time.Millisecond })
	at := l.now()
	l.advance(2 * time.Second)
	ads := l.adverts("n1", at)
	if len(ads) < 4 {
		t.Fatalf("%d adverts in 2s at 300ms", len(ads))
	}
	for i := 2; i < len(ads); i++ {
		if d := ads[i].Time.Sub(ads[i-1].Time); d != 300*time.Millisecond || ads[i].Interval != 300*time.Millisecond {
			t.Errorf("adverts %v apart carrying %v, want 300ms", d, ads[i].Interval)
		}
	}
}

func TestReconfigRemoveAndAdd(t *testing.T) {
	l, a, b := twoNodes(t, nil)
	b.reapply(func(s *model.NodeState) { s.Instances[0].Notify.Stop = model.Command{Shell: "stopped"} })
	at := l.now()
	a.reapply(func(s *model.NodeState) { s.Instances = []model.Instance{instance(2, 200)} })
	ads := l.adverts("n1", at)
	if len(ads) == 0 || ads[0].VRID != 1 || ads[0].Priority != 0 {
		t.Fatalf("adverts %+v, want a priority-0 advert for the removed VRID 1", ads)
	}
	if a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("the removed instance's VIP stayed")
	}
	if st := a.e.Status(); len(st) != 1 || st[0].Key.VRID != 2 || st[0].State != model.StateBackup {
		t.Fatalf("status %+v, want only VRID 2 in backup", st)
	}
	l.advance(masterDown(256-56, time.Second)) // VRID 1's b and VRID 2's a both take over
	if a.stateOf(2) != model.StateMaster || b.stateOf(1) != model.StateMaster {
		t.Errorf("a/2 %s, b/1 %s; want both master", a.stateOf(2), b.stateOf(1))
	}
	b.reapply(func(s *model.NodeState) { s.Instances = nil })
	calls := b.runner.Calls()
	if len(calls) == 0 || calls[len(calls)-1].Cmd.Shell != "stopped" {
		t.Errorf("stop hook not run on removal: %+v", calls)
	}
	if l.net.OpenConns() != 1 {
		t.Errorf("%d conns open, want 1 (b's closed with its last instance)", l.net.OpenConns())
	}
}

// An address the administrator put there is never removed.
func TestAdminAddressKept(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.addrs.Set("eth0", netip.MustParsePrefix("192.0.2.101/24"))
	a.start(instance(1, 100))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster {
		t.Fatal("a is not master")
	}
	if adds, _ := a.addrs.Counts(); adds != 0 {
		t.Errorf("%d adds for an address already present", adds)
	}
	b.start(instance(1, 200))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateBackup {
		t.Fatal("a did not yield")
	}
	if !a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("the administrator's address was removed")
	}
}

func TestGARPTiming(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	in := instance(1, 255)
	in.GARP = model.GARPSpec{Repeat: 3, Interval: 100 * time.Millisecond, RefreshDelay: 2 * time.Second}
	a.start(in)
	l.advance(5 * time.Second)
	var got []time.Duration
	for _, an := range a.ann.Announcements() {
		got = append(got, an.Time.Sub(epoch))
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second, 2100 * time.Millisecond, 2200 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("announcements at %v, want %v (owner is master at once)", got, want)
	}
}

func TestUnicast(t *testing.T) {
	l := newLab(t)
	a, b, c := l.node(1), l.node(2), l.node(3)
	uni := func(prio uint8, self *node, peers ...*node) model.Instance {
		in := instance(1, prio)
		in.Unicast, in.SourceAddress = true, self.addr
		for _, p := range peers {
			in.Peers = append(in.Peers, p.addr)
		}
		return in
	}
	a.start(uni(200, a, b))
	b.start(uni(100, b, a))
	// c is a multicast speaker on the same VRID: b must not listen to it.
	c.start(instance(1, 250))
	l.advance(10 * time.Second)
	for _, ad := range l.adverts("n1", 0) {
		if ad.Dst != b.addr {
			t.Fatalf("a sent to %v, want only peer %v", ad.Dst, b.addr)
		}
	}
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
		t.Errorf("a %s, b %s", a.stateOf(1), b.stateOf(1))
	}
	if b.status(1).Counters.Drops[vrrpd.DropNotPeer] == 0 {
		t.Error("b did not drop c's multicast adverts as not-peer")
	}
}

func TestDrops(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	v2 := instance(1, 100)
	v2.Version, v2.Auth = 2, &model.Auth{Type: "pass", SecretEnv: "secret"}
	a.start(v2, instance(2, 100))
	src, other := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.10")
	enc := func(ad packet.Advert) []byte {
		b, err := packet.Encode(&ad, src, packet.Group4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good2 := packet.Advert{Version: 2, VRID: 1, Priority: 100, Interval: time.Second,
		Addrs: []netip.Addr{vip("192.0.2.101/24")}, AuthType: packet.AuthPass, AuthData: packet.PassAuth("secret")}
	badPass, noAuth, slow := good2, good2, good2
	badPass.AuthData = packet.PassAuth("guess")
	noAuth.AuthType, noAuth.AuthData = 0, [8]byte{}
	slow.Interval = 2 * time.Second
	v3For1 := packet.Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second}
	unknown := packet.Advert{Version: 3, VRID: 9, Priority: 100, Interval: time.Second}
	corrupt := enc(packet.Advert{Version: 3, VRID: 2, Priority: 100, Interval: time.Second})
	corrupt[2]++
	for _, in := range []struct {
		ttl int
		b   []byte
	}{
		{255, enc(badPass)}, {255, enc(noAuth)}, {255, enc(slow)}, {255, enc(v3For1)},
		{64, enc(good2)}, {255, enc(unknown)}, {255, corrupt}, {255, []byte{0x31}},
	} {
		l.net.Inject(src, packet.Group4, in.ttl, in.b)
	}
	l.net.Inject(other, packet.Group4, 255, enc(good2)) // accepted
	l.settle()
	d1 := a.status(1).Counters.Drops
	want1 := map[vrrpd.DropReason]uint64{vrrpd.DropBadAuth: 2, vrrpd.DropIntervalMismatch: 1, vrrpd.DropWrongVersion: 1, vrrpd.DropBadTTL: 1}
	for r, n := range want1 {
		if d1[r] != n {
			t.Errorf("VRID 1 drops[%s] = %d, want %d (all: %v)", r, d1[r], n, d1)
		}
	}
	if got := a.status(1).Counters.AdvertsReceived; got != 1 {
		t.Errorf("VRID 1 accepted %d adverts, want 1", got)
	}
	if got := a.status(2).Counters.Drops[vrrpd.DropBadChecksum]; got != 1 {
		t.Errorf("VRID 2 bad-checksum drops %d, want 1", got)
	}
	un := a.e.Drops()["eth0/ipv4"]
	if un[vrrpd.DropUnknownVRID] != 1 || un[vrrpd.DropTruncated] != 1 {
		t.Errorf("unattributed drops %v, want 1 unknown-vrid and 1 truncated", un)
	}
}

func TestApplyRejectsBadInstances(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	e, err := vrrpd.New(vrrpd.Config{Clock: l.clock, Conns: a.host, Addrs: a.addrs, Announcer: a.ann, Links: a.links, Runner: a.runner})
	if err != nil {
		t.Fatal(err)
	}
	v2v6 := instance(1, 100, "2001:db8::1/64")
	v2v6.Version, v2v6.Family = 2, model.IPv6
	dup := instance(1, 100)
	dup.Name = "dup"
	err = e.Apply(&model.NodeState{Instances: []model.Instance{v2v6, instance(1, 100), dup}})
	if err == nil || !strings.Contains(err.Error(), `"group1"`) || !strings.Contains(err.Error(), "IPv4 only") || !strings.Contains(err.Error(), `"dup"`) {
		t.Errorf("error %v, want one naming the v2/IPv6 group and the duplicate key", err)
	}
	if _, err := vrrpd.New(vrrpd.Config{}); err == nil || !strings.Contains(err.Error(), "Clock") {
		t.Errorf("New with an empty config: %v", err)
	}
}

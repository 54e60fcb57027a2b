package vrrpd_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

var (
	vip1Spec = model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.101/24"), Device: "eth0"}
	vip2Spec = model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.102/24"), Device: "eth0"}
	adminPfx = netip.MustParsePrefix("192.0.2.250/24")
)

func recordOf(n *node) []model.VIPSpec { return n.record.VIPs() }

// The crash the record exists for: the master is SIGKILLed, its VIP stays
// on its interface, the backup takes over, and two nodes hold the VIP.
// The restarted process comes back as backup and removes the VIP at once,
// before its first master-down wait; the administrator's address stays.
func TestCrashedMasterRemovesItsVIPOnRestart(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.addrs.Set("eth0", adminPfx)
	a.start(instance(1, 200))
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatalf("setup: a is %s", a.stateOf(1))
	}
	if got := recordOf(a); !slices.Equal(got, []model.VIPSpec{vip1Spec}) {
		t.Fatalf("a's record %v, want the VIP it added", got)
	}

	a.kill()
	l.advance(masterDown(100, time.Second) + 100*time.Millisecond)
	if b.stateOf(1) != model.StateMaster || !b.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatalf("b is %s after a's crash, want master with the VIP", b.stateOf(1))
	}
	if !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatal("the crash took a's VIP away; the test needs it left behind")
	}

	// Back with a lower priority than the new master: a must not keep
	// the VIP it added before the crash. No time passes.
	restarted := l.now()
	a.start(instance(1, 50))
	if a.stateOf(1) != model.StateBackup {
		t.Fatalf("restarted a is %s, want backup", a.stateOf(1))
	}
	if a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Error("restarted backup still holds the VIP its previous run added")
	}
	if !a.addrs.Has("eth0", adminPfx.Addr()) {
		t.Error("the administrator's address was removed")
	}
	if got := recordOf(a); len(got) != 0 {
		t.Errorf("a's record %v after releasing, want empty", got)
	}
	if ads := l.adverts("n1", restarted); len(ads) != 0 {
		t.Errorf("restarted backup sent %d adverts", len(ads))
	}
	l.advance(10 * time.Second)
	if b.stateOf(1) != model.StateMaster || a.stateOf(1) != model.StateBackup || a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Errorf("later: a %s, b %s, a holds VIP %v", a.stateOf(1), b.stateOf(1), a.addrs.Has("eth0", vip1Spec.Prefix.Addr()))
	}
}

// Restarted with its old priority, the node still starts as backup
// without the VIP, then preempts and adds (and records) it again.
func TestCrashedMasterPreemptsCleanlyOnRestart(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.start(instance(1, 200))
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	a.kill()
	l.advance(5 * time.Second)
	a.start(instance(1, 200))
	if a.stateOf(1) != model.StateBackup || a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatalf("restarted a is %s, holds VIP %v; want backup without it", a.stateOf(1), a.addrs.Has("eth0", vip1Spec.Prefix.Addr()))
	}
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
		t.Fatalf("a %s, b %s; want a to preempt", a.stateOf(1), b.stateOf(1))
	}
	if !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) || b.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Error("after preemption the VIP is not on a alone")
	}
	if got := recordOf(a); !slices.Equal(got, []model.VIPSpec{vip1Spec}) {
		t.Errorf("a's record %v, want the re-added VIP", got)
	}
}

// A group removed from the description while the process was down: its
// recorded VIP is deleted at start-up; a VIP in the record that is no
// longer on the device is forgotten without a delete.
func TestRestartRemovesVIPOfGroupRemovedWhileDown(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	a.start(instance(1, 200), instance(2, 200))
	l.advance(5 * time.Second)
	if !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) || !a.addrs.Has("eth0", vip2Spec.Prefix.Addr()) {
		t.Fatal("setup: a does not hold both VIPs")
	}
	a.kill()
	gone := model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.103/24"), Device: "eth0"}
	a.record.Save(append(a.record.VIPs(), gone))
	_, deletesBefore := a.addrs.Counts()

	a.start(instance(1, 200))
	if a.addrs.Has("eth0", vip2Spec.Prefix.Addr()) {
		t.Error("the VIP of the removed group is still there")
	}
	if _, deletes := a.addrs.Counts(); deletes-deletesBefore != 2 {
		t.Errorf("%d deletes at start-up, want 2 (group 2's VIP, and group 1's as it starts as backup)", deletes-deletesBefore)
	}
	if got := recordOf(a); len(got) != 0 {
		t.Errorf("record %v after start-up, want empty", got)
	}
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatalf("alone on the segment, a is %s", a.stateOf(1))
	}
	if got := recordOf(a); !slices.Equal(got, []model.VIPSpec{vip1Spec}) {
		t.Errorf("record %v, want group 1's VIP only", got)
	}
}

// The node's own address is never deleted, even when the record lists
// it (an older configuration, or an owner instance that had to add it):
// not at start-up, not when its owner instance faults. Addresses not in
// the record are never touched.
func TestOwnAddressNeverDeleted(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	own := model.VIPSpec{Prefix: netip.PrefixFrom(a.addr, 24), Device: "eth0"}
	a.addrs.Set("eth0", own.Prefix, adminPfx, vip2Spec.Prefix)
	a.record.Save([]model.VIPSpec{own, vip2Spec})

	// Group 2 gone, no owner instance: the recorded own address stays,
	// the recorded VIP goes.
	a.start(instance(1, 100))
	if !a.addrs.Has("eth0", a.addr) || !a.addrs.Has("eth0", adminPfx.Addr()) {
		t.Fatal("start-up removed the node's own or the administrator's address")
	}
	if a.addrs.Has("eth0", vip2Spec.Prefix.Addr()) {
		t.Error("the recorded VIP of a removed group stayed")
	}
	a.stop()

	// An owner instance whose VIP is the node's address, recorded as ours.
	a.record.Save([]model.VIPSpec{own})
	owner := instance(3, 255)
	owner.VIPs = []model.VIPSpec{own}
	a.start(owner)
	if a.stateOf(3) != model.StateMaster {
		t.Fatalf("owner is %s", a.stateOf(3))
	}
	a.links.Set("eth0", false)
	l.settle()
	if a.stateOf(3) != model.StateFault {
		t.Fatalf("owner is %s with eth0 down", a.stateOf(3))
	}
	if !a.addrs.Has("eth0", a.addr) {
		t.Error("a faulted owner deleted the node's own address")
	}
	a.stop()
	if !a.addrs.Has("eth0", a.addr) || !a.addrs.Has("eth0", adminPfx.Addr()) {
		t.Error("shutdown removed the node's own or the administrator's address")
	}
}

// recordOrder wraps the node's addresses and checks, at each call, that
// the record says "ours" before an address appears and until it is gone.
type recordOrder struct {
	vrrpd.Addresses
	t *testing.T
	n *node
}

func (r recordOrder) Add(v model.VIPSpec) error {
	if !r.n.record.Has(v) {
		r.t.Errorf("adding %s before recording it", v.Prefix)
	}
	return r.Addresses.Add(v)
}

func (r recordOrder) AddNew(v model.VIPSpec) (bool, error) {
	if !r.n.record.Has(v) {
		r.t.Errorf("adding %s before recording it", v.Prefix)
	}
	return r.Addresses.AddNew(v)
}

func (r recordOrder) Delete(v model.VIPSpec) error {
	if r.n.addrs.Has(v.Device, v.Prefix.Addr()) && !r.n.record.Has(v) {
		r.t.Errorf("deleting %s after forgetting it: a crash in between would orphan it", v.Prefix)
	}
	return r.Addresses.Delete(v)
}

func TestRecordWrittenBeforeAddAndAfterDelete(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.wrapAddrs = func(in vrrpd.Addresses) vrrpd.Addresses { return recordOrder{in, t, a} }
	a.start(instance(1, 200, "192.0.2.101/24", "192.0.2.111/24"))
	b.start(instance(1, 100, "192.0.2.101/24", "192.0.2.111/24"))
	if a.record.Saves() != 1 || len(recordOf(a)) != 0 {
		t.Errorf("start: %d saves, record %v; want the empty record written once", a.record.Saves(), recordOf(a))
	}
	startSaves := a.record.Saves()
	l.advance(5 * time.Second)
	adds, _ := a.addrs.Counts()
	if a.stateOf(1) != model.StateMaster || adds != 2 || len(recordOf(a)) != 2 {
		t.Fatalf("a %s, %d adds, record %v", a.stateOf(1), adds, recordOf(a))
	}
	saves := a.record.Saves() - startSaves
	if saves != 1 {
		t.Errorf("%d saves for one transition, want one for both VIPs", saves)
	}
	// Repair, reconfiguration and handing over all keep the order.
	a.addrs.Delete(model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.111/24"), Device: "eth0"})
	if got := a.e.RepairVIPs(); len(got) != 1 {
		t.Errorf("repaired %v", got)
	}
	a.reapply(func(s *model.NodeState) { s.Instances[0] = instance(1, 200, "192.0.2.101/24", "192.0.2.121/24") })
	if got := recordOf(a); len(got) != 2 || !a.record.Has(model.VIPSpec{Prefix: netip.MustParsePrefix("192.0.2.121/24"), Device: "eth0"}) {
		t.Errorf("record after reconfiguration %v", got)
	}
	a.reapply(func(s *model.NodeState) { s.Instances[0].Priority = 50 })
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateBackup || len(recordOf(a)) != 0 {
		t.Errorf("a %s, record %v after handing over", a.stateOf(1), recordOf(a))
	}
}

// A record that cannot be written must not keep a master from adding its
// VIPs (a stale record is the lesser harm); one that cannot be read
// leaves the addresses of the earlier run alone.
func TestRecordErrorsDoNotStopVRRP(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	a.record.SetSaveError(errors.New("disk full"))
	a.start(instance(1, 200))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster || !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Fatalf("a %s without a writable record, holds VIP %v", a.stateOf(1), a.addrs.Has("eth0", vip1Spec.Prefix.Addr()))
	}
	a.stop()

	a.record.SetSaveError(nil)
	a.record.Save([]model.VIPSpec{vip2Spec})
	a.record.SetLoadError(errors.New("corrupt"))
	a.addrs.Set("eth0", vip2Spec.Prefix)
	a.start(instance(1, 200))
	if !a.addrs.Has("eth0", vip2Spec.Prefix.Addr()) {
		t.Error("an unreadable record led to a delete")
	}
}

// RFC 5798 6.4.1: the address owner takes over at once when its fault
// clears, as it does at start-up, without waiting Master_Down_Interval.
func TestOwnerMasterAtOnceAfterFault(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.start(instance(1, 255))
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster {
		t.Fatalf("owner is %s", a.stateOf(1))
	}
	a.links.Set("eth0", false)
	l.settle()
	l.advance(2 * time.Second)
	if a.stateOf(1) != model.StateFault || b.stateOf(1) != model.StateMaster {
		t.Fatalf("a %s, b %s; want fault and master", a.stateOf(1), b.stateOf(1))
	}
	cleared := l.now()
	a.links.Set("eth0", true)
	l.settle()
	if s := a.status(1); s.State != model.StateMaster || s.LastTransition != epoch.Add(cleared) {
		t.Fatalf("owner is %s since %v after its fault cleared at %v, want master at once", s.State, s.LastTransition.Sub(epoch), cleared)
	}
	if !a.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Error("owner took over without its VIP")
	}
	if ads := l.adverts("n1", cleared); len(ads) != 1 || ads[0].Priority != 255 {
		t.Errorf("adverts at the fault clearing %+v, want one with priority 255", ads)
	}
	if b.stateOf(1) != model.StateBackup || b.addrs.Has("eth0", vip1Spec.Prefix.Addr()) {
		t.Errorf("b is %s, holds VIP %v after the owner's advert", b.stateOf(1), b.addrs.Has("eth0", vip1Spec.Prefix.Addr()))
	}
}

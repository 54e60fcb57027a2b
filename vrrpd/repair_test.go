package vrrpd_test

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// RepairVIPs re-adds a VIP deleted by hand on the master and announces
// it; on a backup, or with nothing missing, it writes nothing.
func TestRepairVIPs(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	a.start(instance(1, 200))
	b.start(instance(1, 100))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster {
		t.Fatalf("a is %s, want master", a.stateOf(1))
	}
	addsBefore, _ := a.addrs.Counts()
	annBefore := len(a.ann.Announcements())
	if got := a.e.RepairVIPs(); len(got) != 0 {
		t.Fatalf("repaired %v with nothing missing", got)
	}
	if adds, _ := a.addrs.Counts(); adds != addsBefore {
		t.Fatalf("in sync: %d adds, want none", adds-addsBefore)
	}

	a.addrs.Set("eth0") // an administrator deletes the VIP
	got := a.e.RepairVIPs()
	if len(got) != 1 || got[0].Prefix.Addr() != vip("192.0.2.101/24") {
		t.Fatalf("repaired %v, want the VIP 192.0.2.101", got)
	}
	if !a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Fatal("VIP not back on eth0")
	}
	if n := len(a.ann.Announcements()) - annBefore; n == 0 {
		t.Error("repaired VIP was not announced")
	}
	b.addrs.Set("eth0")
	if got := b.e.RepairVIPs(); len(got) != 0 {
		t.Errorf("backup repaired %v", got)
	}
	if b.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("backup added the VIP")
	}
	// After a repair the engine still owns the VIP: a stop removes it.
	a.e.Shutdown(t.Context())
	if a.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("repaired VIP left behind after shutdown")
	}
}

// listFails is an Addresses whose List fails while fail is set.
type listFails struct {
	vrrpd.Addresses
	fail *atomic.Bool
}

func (a listFails) List(device string) ([]netip.Prefix, error) {
	if a.fail.Load() {
		return nil, errors.New("netlink: no buffer space")
	}
	return a.Addresses.List(device)
}

// A device whose addresses cannot be listed is left alone: none of its
// VIPs is known to be missing, however many the master has on it.
func TestRepairSkipsDeviceItCannotList(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	var fail atomic.Bool
	a.wrapAddrs = func(in vrrpd.Addresses) vrrpd.Addresses { return listFails{in, &fail} }
	a.start(instance(1, 200, "192.0.2.101/24", "192.0.2.102/24", "192.0.2.103/24"))
	l.advance(5 * time.Second)
	if a.stateOf(1) != model.StateMaster {
		t.Fatalf("a is %s, want master", a.stateOf(1))
	}
	a.addrs.Set("eth0") // an administrator deletes the VIPs
	fail.Store(true)
	addsBefore, _ := a.addrs.Counts()
	if got := a.e.RepairVIPs(); len(got) != 0 {
		t.Errorf("repaired %v on a device it could not list", got)
	}
	if adds, _ := a.addrs.Counts(); adds != addsBefore {
		t.Errorf("%d adds on a device it could not list, want none", adds-addsBefore)
	}
	fail.Store(false)
	if got := a.e.RepairVIPs(); len(got) != 3 {
		t.Errorf("repaired %v once listing works, want all three VIPs", got)
	}
}

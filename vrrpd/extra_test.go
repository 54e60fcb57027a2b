package vrrpd_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// IPv6: adverts go from the link-local address to ff02::12 and carry the
// IPv6 VIPs; the backup takes over on a graceful stop.
func TestIPv6(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	six := func(prio uint8) model.Instance {
		in := instance(6, prio, "2001:db8::6/64")
		in.Family = model.IPv6
		return in
	}
	a.start(six(200))
	b.start(six(100))
	l.advance(5 * time.Second)
	ads := l.adverts("n1", 0)
	if len(ads) == 0 || ads[0].Src != netip.MustParseAddr("fe80::1") || ads[0].Dst != netip.MustParseAddr("ff02::12") ||
		len(ads[0].Addrs) != 1 || ads[0].Addrs[0] != netip.MustParseAddr("2001:db8::6") {
		t.Fatalf("adverts %+v, want fe80::1 → ff02::12 listing 2001:db8::6", ads)
	}
	if !a.addrs.Has("eth0", netip.MustParseAddr("2001:db8::6")) || b.stateOf(6) != model.StateBackup {
		t.Fatal("a does not hold the IPv6 VIP as master")
	}
	a.stop()
	l.advance(time.Second)
	if b.stateOf(6) != model.StateMaster || !b.addrs.Has("eth0", netip.MustParseAddr("2001:db8::6")) {
		t.Errorf("b is %s after a's stop, want master with the VIP", b.stateOf(6))
	}
}

// blockingRunner holds the master hook until released.
type blockingRunner struct {
	*vrrptest.Runner
	release chan struct{}
}

func (r blockingRunner) Run(ctx context.Context, cmd model.Command, user string, args ...string) (int, error) {
	if cmd.Shell == "slow-hook" {
		<-r.release
	}
	return r.Runner.Run(ctx, cmd, user, args...)
}

// A hook that does not return must not delay adverts.
func TestSlowHookDoesNotBlock(t *testing.T) {
	clock := vrrptest.NewClock(epoch)
	netw := vrrptest.NewNetwork(clock)
	clock.SetSettle(netw.Settle) // not waiting for hooks: one never ends here
	host := netw.NewHost("n1", netip.MustParseAddr("192.0.2.1"), netip.Addr{})
	runner := blockingRunner{vrrptest.NewRunner(clock), make(chan struct{})}
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: host, Addrs: vrrptest.NewAddresses(), Announcer: vrrptest.NewAnnouncer(clock),
		Links: vrrptest.NewLinks(), Runner: runner})
	if err != nil {
		t.Fatal(err)
	}
	in := instance(1, 255)
	in.Notify.Master = model.Command{Shell: "slow-hook"}
	if err := e.Apply(&model.NodeState{Instances: []model.Instance{in}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if n := len(netw.Sent()); n != 6 {
		t.Errorf("%d adverts in 5s with a hung hook, want 6", n)
	}
	close(runner.release)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := runner.Calls(); len(calls) != 1 || calls[0].Cmd.Shell != "slow-hook" {
		t.Errorf("hook calls %+v, want the master hook once (Shutdown waits for it)", calls)
	}
}

// A multicast group and a unicast group on one interface use two sockets,
// and each socket sees every VRRP packet there: the other socket's
// adverts are not drops (hakeeper_vrrp_drops_total rose by one per advert
// with no fault anywhere). A VRID no group has is still counted, once.
func TestMixedUnicastMulticastNoFalseDrops(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	uni := func(prio uint8, self, peer *node) model.Instance {
		in := instance(2, prio)
		in.Unicast, in.SourceAddress, in.Peers = true, self.addr, []netip.Addr{peer.addr}
		return in
	}
	a.start(instance(1, 200), uni(200, a, b))
	b.start(instance(1, 100), uni(100, b, a))
	l.advance(10 * time.Second)
	for _, vrid := range []uint8{1, 2} {
		if got := b.status(vrid).Counters.AdvertsReceived; got < 5 {
			t.Errorf("b accepted %d adverts for VRID %d in 10s, want its master's", got, vrid)
		}
	}
	for _, n := range []*node{a, b} {
		if d := n.e.Drops(); len(d) != 0 {
			t.Errorf("%s: unattributed drops %v, want none", n.name, d)
		}
	}
	unknown, err := packet.Encode(&packet.Advert{Version: 3, VRID: 9, Priority: 100, Interval: time.Second}, netip.MustParseAddr("192.0.2.9"), packet.Group4)
	if err != nil {
		t.Fatal(err)
	}
	l.net.Inject(netip.MustParseAddr("192.0.2.9"), packet.Group4, 255, unknown)
	l.settle()
	if got := b.e.Drops()["eth0/ipv4"][vrrpd.DropUnknownVRID]; got != 1 {
		t.Errorf("one advert for an unknown VRID counted %d times, want 1", got)
	}
}

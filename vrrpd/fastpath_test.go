package vrrpd_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// steps records, in order, what the engine asked of the kernel side.
type steps struct {
	mu   sync.Mutex
	list []string
}

func (s *steps) add(step string) {
	s.mu.Lock()
	s.list = append(s.list, step)
	s.mu.Unlock()
}

func (s *steps) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

type stepAddrs struct {
	*vrrptest.Addresses
	s *steps
}

func (a stepAddrs) AddNew(v model.VIPSpec) (bool, error) {
	a.s.add("add " + v.Prefix.String())
	return a.Addresses.AddNew(v)
}

type stepAnnouncer struct {
	*vrrptest.Announcer
	s *steps
}

func (a stepAnnouncer) Announce(dev string, addrs []netip.Addr) error {
	a.s.add("announce " + dev)
	return a.Announcer.Announce(dev, addrs)
}

type stepConns struct {
	*vrrptest.Host
	s *steps
}

func (c stepConns) Open(ifname string, family model.Family, src netip.Addr) (vrrpd.Conn, error) {
	conn, err := c.Host.Open(ifname, family, src)
	return stepConn{conn, c.s}, err
}

type stepConn struct {
	vrrpd.Conn
	s *steps
}

func (c stepConn) WriteTo(b []byte, dst netip.Addr) error {
	c.s.add("advert")
	return c.Conn.WriteTo(b, dst)
}

// stepLog records transitions as steps.
type stepLog struct {
	slog.Handler
	s *steps
}

func (stepLog) Enabled(context.Context, slog.Level) bool { return true }

func (h stepLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "vrrp transition" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "to" {
				h.s.add("log to " + a.Value.String())
			}
			return true
		})
	}
	return nil
}

// A new master sends its advert, then adds the VIP, then announces it
// (keepalived's and RFC 5798's order), and only then logs the transition.
func TestBecomeMasterFastPath(t *testing.T) {
	clock := vrrptest.NewClock(epoch)
	netw := vrrptest.NewNetwork(clock)
	clock.SetSettle(netw.Settle)
	host := netw.NewHost("n1", netip.MustParseAddr("192.0.2.1"), netip.Addr{})
	s := &steps{}
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: stepConns{host, s},
		Addrs: stepAddrs{vrrptest.NewAddresses(), s}, Announcer: stepAnnouncer{vrrptest.NewAnnouncer(clock), s},
		Links: vrrptest.NewLinks(), Runner: vrrptest.NewRunner(clock), Logger: slog.New(stepLog{slog.DiscardHandler, s})})
	if err != nil {
		t.Fatal(err)
	}
	in := instance(1, 100)
	in.GARP = model.GARPSpec{Repeat: 1}
	if err := e.Apply(&model.NodeState{Instances: []model.Instance{in}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"log to backup"}
	if got := s.get(); !slices.Equal(got, want) {
		t.Fatalf("start: steps %q, want %q", got, want)
	}
	clock.Advance(4 * time.Second) // past Master_Down_Interval with nobody else
	want = append(want, "advert", "add 192.0.2.101/24", "announce eth0", "log to master")
	if got := s.get(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("becoming master: steps %q, want them to start %q", got, want)
	}
}

// The master-down timer runs from when the kernel received the advert
// (RecvMeta.Received), not from when the engine read it; an implausible
// age is clamped to one advert interval.
func TestMasterDownTimerFromReceiveTime(t *testing.T) {
	for _, tc := range []struct {
		desc string
		age  time.Duration // how long before being read the advert arrived
		fire time.Duration // when the backup must take over, after the read
	}{
		{desc: "read at once", age: 0, fire: 3609375 * time.Microsecond},
		{desc: "read 40ms late", age: 40 * time.Millisecond, fire: 3569375 * time.Microsecond},
		{desc: "stamp 10s old", age: 10 * time.Second, fire: 2609375 * time.Microsecond},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l := newLab(t)
			b := l.node(2)
			b.start(instance(1, 100)) // Master_Down_Interval 3s + 156/256 s
			l.advance(time.Second)
			src := netip.MustParseAddr("192.0.2.9")
			ad := packet.Advert{Version: 3, VRID: 1, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip("192.0.2.101/24")}}
			payload, err := packet.Encode(&ad, src, packet.Group4)
			if err != nil {
				t.Fatal(err)
			}
			l.net.InjectReceivedAt(l.clock.Now().Add(-tc.age), src, packet.Group4, 255, payload)
			l.settle()
			l.advance(tc.fire - time.Millisecond)
			if got := b.stateOf(1); got != model.StateBackup {
				t.Fatalf("%v after the read: %s, want still backup", tc.fire-time.Millisecond, got)
			}
			l.advance(time.Millisecond)
			if got := b.stateOf(1); got != model.StateMaster {
				t.Errorf("%v after the read: %s, want master", tc.fire, got)
			}
		})
	}
}

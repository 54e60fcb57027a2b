package vrrpd_test

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// waitingConns opens the host's Conns with a Pending that reports the
// shared flag: "a packet waits in the kernel's queue".
type waitingConns struct {
	vrrpd.ConnFactory
	waiting *atomic.Bool
}

func (w waitingConns) Open(ifname string, family model.Family, src netip.Addr) (vrrpd.Conn, error) {
	c, err := w.ConnFactory.Open(ifname, family, src)
	if err != nil {
		return nil, err
	}
	return waitingConn{c, w.waiting}, nil
}

type waitingConn struct {
	vrrpd.Conn
	waiting *atomic.Bool
}

func (c waitingConn) Pending() bool { return c.waiting.Load() }

var _ vrrpd.PendingConn = waitingConn{}

// A backup whose Master_Down_Timer fires while a packet waits unread
// looks again before taking over (up to 3 × 1 ms): an advert the kernel
// received in time keeps it backup, however late its reader runs; with
// nothing waiting, or when the wait outlasts the bound, it takes over.
func TestTakeoverReadsWaitingAdvertFirst(t *testing.T) {
	const masterDown = 3609375 * time.Microsecond // priority 100, 1 s adverts
	src := netip.MustParseAddr("192.0.2.9")
	advert := func(t *testing.T) []byte {
		ad := packet.Advert{Version: 3, VRID: 1, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip("192.0.2.101/24")}}
		b, err := packet.Encode(&ad, src, packet.Group4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		desc string
		// waiting: whether a packet waits when the timer fires.
		waiting bool
		// lateAdvert: the master's advert, received 10 ms before the
		// timer fired, is read during the first look.
		lateAdvert bool
		// master: when the backup becomes master, after the timer
		// fired (0: it stays backup).
		master time.Duration
	}{
		{desc: "nothing waiting: takes over at once", master: 0},
		{desc: "advert waiting: read, stays backup", waiting: true, lateAdvert: true},
		{desc: "other traffic waiting: takes over after 3 looks", waiting: true, master: 3 * time.Millisecond},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l := newLab(t)
			var waiting atomic.Bool
			b := l.node(2)
			b.wrapConns = func(f vrrpd.ConnFactory) vrrpd.ConnFactory { return waitingConns{f, &waiting} }
			b.start(instance(1, 100))
			l.advance(time.Second)
			l.net.Inject(src, packet.Group4, 255, advert(t))
			l.settle()
			expiry := l.now() + masterDown
			waiting.Store(tc.waiting)
			l.at(expiry - time.Millisecond)
			if got := b.stateOf(1); got != model.StateBackup {
				t.Fatalf("before the timer: %s, want backup", got)
			}
			transitions := b.status(1).Counters.Transitions
			l.at(expiry)
			if tc.lateAdvert {
				waiting.Store(false)
				l.net.InjectReceivedAt(l.clock.Now().Add(-10*time.Millisecond), src, packet.Group4, 255, advert(t))
				l.settle()
				l.at(expiry + 100*time.Millisecond)
				if st := b.status(1); st.State != model.StateBackup || st.Counters.Transitions != transitions {
					t.Fatalf("advert received before the timer fired, read after: %s after %d transitions, want backup throughout", st.State, st.Counters.Transitions-transitions)
				}
				// Its Master_Down_Interval runs from its receive time.
				l.at(expiry - 10*time.Millisecond + masterDown)
				if got := b.stateOf(1); got != model.StateMaster {
					t.Errorf("one Master_Down_Interval after that advert: %s, want master", got)
				}
				return
			}
			if tc.master > 0 {
				l.at(expiry + tc.master - time.Millisecond)
				if got := b.stateOf(1); got != model.StateBackup {
					t.Fatalf("%v after the timer with a packet waiting: %s, want still backup", tc.master-time.Millisecond, got)
				}
				l.at(expiry + tc.master)
			}
			if got := b.stateOf(1); got != model.StateMaster {
				t.Errorf("%v after the timer: %s, want master", tc.master, got)
			}
		})
	}
}

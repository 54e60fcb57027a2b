package vrrpd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// An advert whose Max Advert Interval is 0 would make a backup's
// Master_Down_Interval 0: any host on the segment could flap every node
// at its packet rate. Such adverts are dropped and counted as
// bad-interval, in v3 (centiseconds) and v2 (seconds) alike, and nothing
// changes state or runs a hook.
func TestZeroIntervalAdvertsDropped(t *testing.T) {
	for _, version := range []int{3, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			l, a, b := twoNodes(t, func(in *model.Instance) {
				in.Version = version
				in.Notify = model.NotifySpec{Master: model.Command{Shell: "to-master"}, Backup: model.Command{Shell: "to-backup"}}
			})
			attacker := netip.MustParseAddr("192.0.2.66")
			evil := packet.Advert{Version: version, VRID: 1, Priority: 254, Interval: 0, Addrs: []netip.Addr{vip("192.0.2.101/24")}}
			payload, err := packet.Encode(&evil, attacker, packet.Group4)
			if err != nil {
				t.Fatal(err)
			}
			transA, transB := a.status(1).Counters.Transitions, b.status(1).Counters.Transitions
			hooksA, hooksB := len(a.runner.Calls()), len(b.runner.Calls())
			const sent = 500
			for i := range sent {
				l.net.Inject(attacker, packet.Group4, 255, payload)
				if i%50 == 0 {
					l.advance(10 * time.Millisecond)
				}
			}
			l.advance(5 * time.Second)
			if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
				t.Fatalf("after the flood a %s, b %s; want master, backup", a.stateOf(1), b.stateOf(1))
			}
			for _, c := range []struct {
				n         *node
				trans     uint64
				hooks     int
				wantDrops uint64
			}{{a, transA, hooksA, sent}, {b, transB, hooksB, sent}} {
				st := c.n.status(1)
				if st.Counters.Transitions != c.trans {
					t.Errorf("%s made %d transitions during the flood", c.n.name, st.Counters.Transitions-c.trans)
				}
				if got := len(c.n.runner.Calls()); got != c.hooks {
					t.Errorf("%s ran %d notify hooks during the flood", c.n.name, got-c.hooks)
				}
				if got := st.Counters.Drops[vrrpd.DropBadInterval]; got != c.wantDrops {
					t.Errorf("%s counted %d bad-interval drops, want %d (all: %v)", c.n.name, got, c.wantDrops, st.Counters.Drops)
				}
			}
		})
	}
}

// manyVIPs is n IPv4 VIPs: more than 255 cannot be carried by one advert.
func manyVIPs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("198.51.%d.%d/16", 100+i/250, 1+i%250))
	}
	return out
}

// A group whose advert cannot be encoded (more VIPs than the count byte
// holds) must never be a silent master: the peer would take over and
// both would hold the VIPs. It is faulted with the reason, holds none of
// its VIPs, counts the failure, and the peer is the only master.
func TestUnencodableAdvertFaults(t *testing.T) {
	tooMany := instance(1, 200, manyVIPs(256)...)
	t.Run("at start", func(t *testing.T) {
		l := newLab(t)
		a, b := l.node(1), l.node(2)
		a.start(tooMany)
		b.start(instance(1, 100))
		l.advance(20 * time.Second)
		checkAdvertFault(t, l, a, b, 0)
	})
	t.Run("reconfigured master", func(t *testing.T) {
		l, a, b := twoNodes(t, nil)
		at := l.now()
		a.reapply(func(s *model.NodeState) { s.Instances[0] = tooMany })
		l.advance(20 * time.Second)
		checkAdvertFault(t, l, a, b, at)
		// A configuration that fits again clears the fault.
		a.reapply(func(s *model.NodeState) { s.Instances[0] = instance(1, 200) })
		l.advance(10 * time.Second)
		if st := a.status(1); st.State != model.StateMaster || st.AdvertError != "" {
			t.Errorf("after a fitting configuration a is %s (advert error %q), want master again", st.State, st.AdvertError)
		}
	})
}

func checkAdvertFault(t *testing.T, l *lab, a, b *node, since time.Duration) {
	t.Helper()
	st := a.status(1)
	if st.State != model.StateFault || !strings.Contains(st.Reason, "cannot encode") || !strings.Contains(st.AdvertError, "255") {
		t.Errorf("a is %s (%q, advert error %q), want fault saying the advert cannot be encoded", st.State, st.Reason, st.AdvertError)
	}
	if st.Counters.AdvertErrors == 0 {
		t.Error("the encode failure was not counted")
	}
	if held, _ := a.addrs.List("eth0"); len(held) > 0 {
		t.Errorf("faulted a holds %d addresses, first %v", len(held), held[0])
	}
	for _, ad := range l.adverts("n1", since+time.Millisecond) {
		if ad.Priority != 0 {
			t.Errorf("faulted a advertised priority %d at %v", ad.Priority, ad.Time.Sub(epoch))
		}
	}
	if b.stateOf(1) != model.StateMaster || !b.addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Errorf("b is %s, want the only master, holding the VIP", b.stateOf(1))
	}
}

// Split brain is not silent: adverts for our VRID that a foreign
// configuration sends (another password, version or v2 interval, or a
// unicast sender that is no peer) leave both nodes master. Each reports
// the suspicion with the count, reasons and source, until the rejected
// adverts have stopped for a bounded time.
func TestSplitBrainSuspected(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	v2 := func(prio uint8, pass string) model.Instance {
		in := instance(1, prio)
		in.Version, in.Auth = 2, &model.Auth{Type: "pass", SecretEnv: pass}
		return in
	}
	a.start(v2(200, "right"))
	b.start(v2(100, "wrong"))
	l.advance(10 * time.Second)
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateMaster {
		t.Fatalf("a %s, b %s; want both master (each rejects the other's password)", a.stateOf(1), b.stateOf(1))
	}
	for _, n := range []*node{a, b} {
		st := n.status(1)
		if !strings.Contains(st.SplitBrain, "split-brain suspected") || !strings.Contains(st.SplitBrain, "bad-auth") {
			t.Errorf("%s split brain %q, want it suspected for bad-auth", n.name, st.SplitBrain)
		}
	}
	if sb := a.status(1).SplitBrain; !strings.Contains(sb, b.addr.String()) {
		t.Errorf("a's split brain %q does not name the sender %v", sb, b.addr)
	}

	// The password is fixed: one master, and the suspicion clears once
	// no advert has been rejected for the hold time.
	b.reapply(func(s *model.NodeState) { s.Instances[0] = v2(100, "right") })
	healed := l.now()
	l.advance(2 * time.Second)
	if a.stateOf(1) != model.StateMaster || b.stateOf(1) != model.StateBackup {
		t.Fatalf("after the fix a %s, b %s; want master, backup", a.stateOf(1), b.stateOf(1))
	}
	l.at(healed + vrrpd.SplitBrainHold(time.Second, time.Second))
	for _, n := range []*node{a, b} {
		if sb := n.status(1).SplitBrain; sb != "" {
			t.Errorf("%s still reports %q %v after the fix", n.name, sb, vrrpd.SplitBrainHold(time.Second, time.Second))
		}
	}
}

// Which rejected adverts mean split brain: a foreign configuration on
// our VRID, from a sender that claims mastership. A malformed advert, a
// resignation (priority 0) or our own looped-back advert does not.
func TestSplitBrainEvidence(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.9")
	v2 := func(edit func(*packet.Advert)) packet.Advert {
		a := packet.Advert{Version: 2, VRID: 1, Priority: 100, Interval: time.Second,
			Addrs: []netip.Addr{vip("192.0.2.101/24")}, AuthType: packet.AuthPass, AuthData: packet.PassAuth("secret")}
		if edit != nil {
			edit(&a)
		}
		return a
	}
	for _, tc := range []struct {
		desc    string
		advert  packet.Advert
		ttl     int
		suspect string // reason expected in SplitBrain, "" for none
	}{
		{"bad password", v2(func(a *packet.Advert) { a.AuthData = packet.PassAuth("guess") }), 255, "bad-auth"},
		{"no auth", v2(func(a *packet.Advert) { a.AuthType, a.AuthData = 0, [8]byte{} }), 255, "bad-auth"},
		{"v3 on our v2 VRID", packet.Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second}, 255, "wrong-version"},
		{"other v2 interval", v2(func(a *packet.Advert) { a.Interval = 3 * time.Second }), 255, "interval-mismatch"},
		{"bad password, resigning", v2(func(a *packet.Advert) { a.AuthData, a.Priority = packet.PassAuth("guess"), 0 }), 255, ""},
		{"zero interval", v2(func(a *packet.Advert) { a.Interval = 0 }), 255, ""},
		{"routed (TTL 64)", v2(nil), 64, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l := newLab(t)
			a := l.node(1)
			in := instance(1, 200)
			in.Version, in.Auth = 2, &model.Auth{Type: "pass", SecretEnv: "secret"}
			a.start(in)
			b, err := packet.Encode(&tc.advert, src, packet.Group4)
			if err != nil {
				t.Fatal(err)
			}
			l.net.Inject(src, packet.Group4, tc.ttl, b)
			l.settle()
			sb := a.status(1).SplitBrain
			switch {
			case tc.suspect == "" && sb != "":
				t.Errorf("split brain %q, want none", sb)
			case tc.suspect != "" && (!strings.Contains(sb, tc.suspect) || !strings.Contains(sb, "1 advert") || !strings.Contains(sb, src.String())):
				t.Errorf("split brain %q, want 1 advert rejected for %s from %v", sb, tc.suspect, src)
			}
		})
	}
}

// warnings records the engine's WARN and ERROR messages.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (w *warnings) count(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// The split-brain warning is logged at once, then at most once a minute
// per group however many adverts are rejected; the encode failure is one
// ERROR, not one per advert interval.
func TestVRRPAlertsLogged(t *testing.T) {
	l := newLab(t)
	a, b := l.node(1), l.node(2)
	w := &warnings{}
	a.logger = slog.New(w)
	v2 := func(prio uint8, pass string) model.Instance {
		in := instance(1, prio)
		in.Version, in.Auth = 2, &model.Auth{Type: "pass", SecretEnv: pass}
		return in
	}
	a.start(v2(200, "right"), instance(2, 200, manyVIPs(256)...))
	b.start(v2(100, "wrong"))
	l.advance(10 * time.Second)
	if n := w.count("WARN vrrp: split brain suspected"); n != 1 {
		t.Errorf("%d split-brain warnings in the first 10s, want 1 (rejected: %v)", n, a.status(1).Counters.Drops)
	}
	l.advance(2*time.Minute - 10*time.Second + time.Millisecond)
	if n := w.count("WARN vrrp: split brain suspected"); n != 2 {
		t.Errorf("%d split-brain warnings in 2 minutes of rejected adverts, want 2 (once a minute, from the first at about 4s)", n)
	}
	if n := w.count("ERROR vrrp: group faulted: its advert cannot be encoded"); n != 1 {
		t.Errorf("%d encode-failure errors, want 1:\n%s", n, strings.Join(w.msgs, "\n"))
	}
}

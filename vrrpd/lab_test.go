package vrrpd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// epoch is the fake clock's start.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// lab is a segment of fake nodes on one fake clock.
type lab struct {
	t     testing.TB
	clock *vrrptest.Clock
	net   *vrrptest.Network
	nodes []*node
}

type node struct {
	l      *lab
	name   string
	addr   netip.Addr
	host   *vrrptest.Host
	addrs  *vrrptest.Addresses
	ann    *vrrptest.Announcer
	links  *vrrptest.Links
	runner *vrrptest.Runner
	// record is the node's VIP record; like a state directory it
	// survives crashes and reboots.
	record *vrrptest.VIPRecord
	// wrapAddrs, when set, wraps addrs for the next start (to observe
	// the order of calls).
	wrapAddrs func(vrrpd.Addresses) vrrpd.Addresses
	// wrapConns, when set, wraps the host's Conns for the next start.
	wrapConns func(vrrpd.ConnFactory) vrrpd.ConnFactory
	// logger, when set, is the next start's engine logger.
	logger *slog.Logger
	// onTransition, when set, is the next start's OnTransition.
	onTransition func()
	e            *vrrpd.Engine
	// runDone receives Run's result.
	runDone chan error
	state   *model.NodeState
}

func newLab(t testing.TB) *lab {
	clock := vrrptest.NewClock(epoch)
	l := &lab{t: t, clock: clock, net: vrrptest.NewNetwork(clock)}
	clock.SetSettle(l.settle)
	t.Cleanup(func() {
		for _, n := range l.nodes {
			n.stop()
		}
	})
	return l
}

// settle lets every packet in flight, hook and check finish.
func (l *lab) settle() {
	for range 2 {
		for _, n := range l.nodes {
			if n.e != nil {
				vrrpd.WaitIdleForTest(n.e)
			}
		}
		l.net.Settle()
	}
}

// node adds host number i (192.0.2.i, fe80::i) with fresh fakes.
func (l *lab) node(i int) *node {
	addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
	ll := netip.MustParseAddr(fmt.Sprintf("fe80::%d", i))
	n := &node{l: l, name: fmt.Sprintf("n%d", i), addr: addr,
		host:  l.net.NewHost(fmt.Sprintf("n%d", i), addr, ll),
		addrs: vrrptest.NewAddresses(), ann: vrrptest.NewAnnouncer(l.clock),
		links: vrrptest.NewLinks(), runner: vrrptest.NewRunner(l.clock), record: &vrrptest.VIPRecord{}}
	l.nodes = append(l.nodes, n)
	return n
}

func (l *lab) advance(d time.Duration) { l.clock.Advance(d) }

// at advances to epoch+d.
func (l *lab) at(d time.Duration) { l.clock.AdvanceTo(epoch.Add(d)) }

func (l *lab) now() time.Duration { return l.clock.Now().Sub(epoch) }

var verbose = os.Getenv("VRRPD_TEST_LOG") != ""

// start runs an engine on n with the given instances.
func (n *node) start(instances ...model.Instance) {
	n.l.t.Helper()
	logger := n.logger
	if verbose && logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", n.name)
	}
	var addrs vrrpd.Addresses = n.addrs
	if n.wrapAddrs != nil {
		addrs = n.wrapAddrs(addrs)
	}
	var conns vrrpd.ConnFactory = n.host
	if n.wrapConns != nil {
		conns = n.wrapConns(conns)
	}
	e, err := vrrpd.New(vrrpd.Config{Clock: n.l.clock, Conns: conns, Addrs: addrs, Announcer: n.ann,
		Links: n.links, Runner: n.runner, Logger: logger, VIPs: n.record, OnTransition: n.onTransition,
		Secret: func(a *model.Auth) (string, error) { return a.SecretEnv, nil }})
	if err != nil {
		n.l.t.Fatal(err)
	}
	n.e = e
	// Run watches the links, as hakeeper run does; wait until it listens.
	watchers := n.links.Watchers()
	done := make(chan error, 1)
	n.runDone = done
	go func() { done <- e.Run(context.Background()) }()
	for n.links.Watchers() == watchers {
		runtime.Gosched()
	}
	n.apply(&model.NodeState{Node: n.name, Address: n.addr, Interface: "eth0", Instances: instances})
}

func (n *node) apply(s *model.NodeState) {
	n.l.t.Helper()
	n.state = s
	if err := n.e.Apply(s); err != nil {
		n.l.t.Fatal(err)
	}
	n.l.settle()
}

// reapply applies the node's state after f changed it.
func (n *node) reapply(f func(*model.NodeState)) {
	n.l.t.Helper()
	s := *n.state
	s.Instances = append([]model.Instance(nil), s.Instances...)
	f(&s)
	n.apply(&s)
}

// stop shuts the engine down gracefully.
func (n *node) stop() {
	if n.e == nil {
		return
	}
	if err := n.e.Shutdown(context.Background()); err != nil {
		n.l.t.Error(err)
	}
	if err := <-n.runDone; err != nil {
		n.l.t.Errorf("Run: %v", err)
	}
	n.e = nil
	n.l.settle()
}

// crash stops the engine without a word on the wire; a reboot clears
// the VIPs it held.
func (n *node) crash() {
	if n.e == nil {
		return
	}
	n.l.net.SetDrop(dropFrom(n.host.Name()))
	n.e.Shutdown(context.Background())
	<-n.runDone
	n.l.net.SetDrop(nil)
	n.e = nil
	n.addrs = vrrptest.NewAddresses()
	n.l.settle()
}

// kill ends the engine as SIGKILL ends the process: silent on the wire,
// its VIPs and its record stay as they are.
func (n *node) kill() {
	if n.e == nil {
		return
	}
	vrrpd.KillForTest(n.e)
	<-n.runDone
	n.e = nil
	n.l.settle()
}

func dropFrom(name string) func(vrrptest.Packet) bool {
	return func(p vrrptest.Packet) bool { return p.From == name }
}

func (n *node) status(vrid uint8) vrrpd.InstanceStatus {
	n.l.t.Helper()
	if n.e == nil {
		return vrrpd.InstanceStatus{}
	}
	for _, s := range n.e.Status() {
		if s.Key.VRID == vrid {
			return s
		}
	}
	n.l.t.Fatalf("%s has no instance with vrid %d", n.name, vrid)
	return vrrpd.InstanceStatus{}
}

func (n *node) stateOf(vrid uint8) model.VRRPState { return n.status(vrid).State }

// instance returns a v3 IPv4 instance with one VIP.
func instance(vrid uint8, prio uint8, vips ...string) model.Instance {
	if len(vips) == 0 {
		vips = []string{fmt.Sprintf("192.0.2.%d/24", 100+int(vrid))}
	}
	in := model.Instance{
		Name: fmt.Sprintf("group%d", vrid), VRID: vrid, Interface: "eth0", Family: model.IPv4,
		Version: 3, Priority: prio, AdvertInterval: time.Second, Preempt: true,
		GARP: model.GARPSpec{Repeat: 5, RefreshDelay: 5 * time.Second},
	}
	for _, v := range vips {
		in.VIPs = append(in.VIPs, model.VIPSpec{Prefix: netip.MustParsePrefix(v), Device: "eth0"})
	}
	return in
}

// advert is a decoded packet seen on the fake segment.
type advert struct {
	vrrptest.Packet
	packet.Advert
}

// adverts returns the adverts sent by host (all hosts if "") since t.
func (l *lab) adverts(from string, since time.Duration) []advert {
	var out []advert
	for _, p := range l.net.Sent() {
		if (from != "" && p.From != from) || p.Time.Before(epoch.Add(since)) {
			continue
		}
		a, err := packet.Decode(p.Payload, p.Src, p.Dst)
		if err != nil {
			l.t.Fatalf("undecodable packet on the wire: %v", err)
		}
		out = append(out, advert{p, *a})
	}
	return out
}

func vip(s string) netip.Addr { return netip.MustParsePrefix(s).Addr() }

// masterDown is 3 × interval + (256 − prio) × interval / 256.
func masterDown(prio int, interval time.Duration) time.Duration {
	return 3*interval + time.Duration(256-prio)*interval/256
}

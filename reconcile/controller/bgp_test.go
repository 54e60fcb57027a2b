package controller_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/lvs/realserver/realservertest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/vrrpd/bgp"
	"github.com/hakeeper/hakeeper/vrrpd/bgp/bgptest"
)

const bgpControllerCluster = `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
bgp:
  asn: 64600
  drainTime: 10ms
  withdrawOnSourceLoss: true
  peers:
    - {address: 192.0.2.254, asn: 64512, passwordFile: PASSWORD, bfd: {interval: 300ms}}
vipGroups:
  web: {mode: bgp, vips: [203.0.113.10], nodes: [lb2, lb1]}
services:
  http:
    vip: 203.0.113.10
    port: 80
    forwarding: dr
    realServers: [{address: 198.51.100.1}]
`

// TestBGPAnnouncements runs lb1's controller with the fake speaker:
// health decides what is announced (a service below quorum, the source
// lost with withdrawOnSourceLoss), the status and metrics say why, and a
// graceful stop withdraws before it stops the speaker.
func TestBGPAnnouncements(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "bgp-password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	src.set("cluster.yaml", strings.Replace(bgpControllerCluster, "PASSWORD", pw, 1))
	sp := &bgptest.Fake{}
	k := realservertest.New()
	k.Sysctls["net.ipv4.vs.sloppy_tcp"], k.Sysctls["net.ipv4.vs.sloppy_sctp"] = "0", "0"
	n := newNodeWith(t, "lb1", src, dir, func(c *controller.Config) {
		c.BGP = sp
		c.RealServer = &realserver.Programmer{Kernel: k, StatePath: filepath.Join(dir, "realserver-owned.json")}
	})
	n.src = src
	vip := netip.MustParsePrefix("203.0.113.10/32")
	announced := func() bool {
		r := sp.Running().Routes
		return len(r) == 1 && r[0].Prefix == vip
	}
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	cfg := sp.Running()
	wantPeer := bgp.Peer{Address: netip.MustParseAddr("192.0.2.254"), ASN: 64512, LocalAddress: netip.MustParseAddr("192.0.2.1"),
		Password: "s3cret", HoldTime: cfg.Peers[0].HoldTime, Keepalive: cfg.Peers[0].Keepalive}
	if cfg.ASN != 64600 || cfg.RouterID != netip.MustParseAddr("192.0.2.1") || len(cfg.Peers) != 1 ||
		cfg.Peers[0].BFD == nil || cfg.Peers[0].Password != wantPeer.Password || cfg.Peers[0].LocalAddress != wantPeer.LocalAddress {
		t.Fatalf("speaker config: %+v", cfg)
	}
	// lb1 is second in the preference order, but the group is ECMP.
	if !announced() || cfg.Routes[0].MED != 0 {
		t.Fatalf("routes: %+v", cfg.Routes)
	}
	if !k.Has("lo", vip) || k.Sysctls["net.ipv4.vs.sloppy_tcp"] != "1" {
		t.Fatalf("VIP on lo %v, sloppy_tcp %s", k.Has("lo", vip), k.Sysctls["net.ipv4.vs.sloppy_tcp"])
	}
	if v := metricValue(t, n.ctl.Metrics(), "hakeeper_bgp_vip_announced", "group", "web"); v != 1 {
		t.Errorf("announced metric %v", v)
	}

	n.checker.setDown("198.51.100.1:80", true)
	if _, err := n.reconcile(false); err != nil {
		t.Fatal(err)
	}
	if announced() {
		t.Fatal("announced with its only real server down")
	}
	g := n.ctl.Status().BGP.Groups[0]
	if len(g.Announced) != 0 || !strings.Contains(g.Withdrawn, "service http below quorum") {
		t.Errorf("status: %+v", g)
	}
	if v := metricValue(t, n.ctl.Metrics(), "hakeeper_bgp_vip_announced", "group", "web"); v != 0 {
		t.Errorf("announced metric %v", v)
	}
	n.checker.setDown("198.51.100.1:80", false)
	if _, err := n.reconcile(false); err != nil || !announced() {
		t.Fatalf("health back: %v, routes %+v", err, sp.Running().Routes)
	}

	src.fail(errors.New("remote unreachable"))
	n.reconcile(true)
	if announced() {
		t.Fatal("announced while the source is lost (withdrawOnSourceLoss)")
	}
	if g := n.ctl.Status().BGP.Groups[0]; !strings.HasPrefix(g.Withdrawn, "source lost") {
		t.Errorf("status: %+v", g)
	}
	src.fail(nil)
	if _, err := n.reconcile(true); err != nil || !announced() {
		t.Fatalf("source back: %v, routes %+v", err, sp.Running().Routes)
	}

	// An unreadable password file keeps the session on the last password.
	if err := os.Remove(pw); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reconcile(false); err == nil || !strings.Contains(err.Error(), "reading the BGP password of peer 192.0.2.254") {
		t.Fatalf("pass without the password file: %v", err)
	}
	if p := sp.Running().Peers; len(p) != 1 || p[0].Password != "s3cret" || !announced() {
		t.Fatalf("after a failed password read: peers %+v, routes %+v", p, sp.Running().Routes)
	}

	if err := n.ctl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !sp.Stopped() || len(sp.Running().Routes) != 0 {
		t.Fatalf("after shutdown: stopped %v, routes %+v", sp.Stopped(), sp.Running().Routes)
	}
}

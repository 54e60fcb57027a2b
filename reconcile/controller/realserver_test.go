package controller_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/lvs/realserver/realservertest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
)

const realServerCluster = `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  web1: {address: 198.51.100.1}
vipGroups:
  web: {vrid: 51, vips: [192.0.2.100/24], nodes: [lb1]}
services:
  http:
    vip: 192.0.2.100
    port: 80
    forwarding: dr
    realServers: [{node: web1}]
`

// TestRealServerRole runs web1's controller on a fake kernel: a revision
// makes it a dr real server, the drift pass repairs a hand-made change,
// and a revision without the service takes the role back.
func TestRealServerRole(t *testing.T) {
	k := realservertest.New()
	src := &memSource{}
	src.set("cluster.yaml", realServerCluster)
	dir := t.TempDir()
	n := newNodeWith(t, "web1", src, dir, func(c *controller.Config) {
		c.RealServer = &realserver.Programmer{Kernel: k, StatePath: filepath.Join(dir, "realserver-owned.json")}
	})
	vip := netip.MustParsePrefix("192.0.2.100/32")
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	if !k.Has("lo", vip) || k.Sysctls["net.ipv4.conf.all.arp_ignore"] != "1" || k.Sysctls["net.ipv4.conf.all.arp_announce"] != "2" {
		t.Fatalf("role not applied: lo %v, sysctls %v", k.Devices["lo"].Addrs, k.Sysctls)
	}
	writes := k.Writes
	if res, err := n.reconcile(false); err != nil || res.Repaired != 0 || k.Writes != writes {
		t.Fatalf("in-sync pass: %+v, %v, %d writes", res, err, k.Writes-writes)
	}

	if err := k.DelAddr("lo", vip); err != nil {
		t.Fatal(err)
	}
	res, err := n.reconcile(false)
	if err != nil || res.Repaired != 1 || !k.Has("lo", vip) {
		t.Fatalf("drift pass: %+v, %v, VIP back %v", res, err, k.Has("lo", vip))
	}
	if got := metricValue(t, n.ctl.Metrics(), "hakeeper_drift_repairs_total", "kind", "realserver"); got != 1 {
		t.Errorf("drift counted %v, want 1", got)
	}

	// web1 no longer serves http: what hakeeper added goes, the sysctls
	// come back.
	src.set("cluster.yaml", realServerCluster[:len(realServerCluster)-len("    realServers: [{node: web1}]\n")]+"    realServers: [{address: 198.51.100.1}]\n")
	if res, err := n.reconcile(true); err != nil || !res.Applied {
		t.Fatalf("%+v, %v", res, err)
	}
	if k.Has("lo", vip) || k.Sysctls["net.ipv4.conf.all.arp_ignore"] != "0" || k.Sysctls["net.ipv4.conf.all.arp_announce"] != "0" {
		t.Fatalf("role not removed: lo %v, sysctls %v", k.Devices["lo"].Addrs, k.Sysctls)
	}
	if n.engine.applyCount() != 1 {
		t.Errorf("the VRRP engine was applied %d times: the role is no VRRP change", n.engine.applyCount())
	}
}

// Without a real-server programmer a revision giving the node a role is
// refused.
func TestRealServerRoleUnavailable(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", realServerCluster)
	n := newNodeNamed(t, "web1", src, t.TempDir())
	if _, err := n.reconcile(true); err == nil || n.ctl.Running() != nil {
		t.Fatalf("applied without a real-server programmer: %v", err)
	}
}

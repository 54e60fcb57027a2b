package controller_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

const passCluster = `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/24]
    nodes: [lb1, lb2]
    version: 2
    advertInterval: 1s
    auth: {type: pass, secretEnv: HKV_TEST_VRRP_PASS}
`

// A peer with another VRRPv2 password is a master this node does not
// obey: /status is not healthy and names the group, the sender and the
// reason; /metrics has the split-brain gauge at 1 and the bad-auth drops.
// Once no such advert has come for the hold time, all of it clears.
func TestSplitBrainInStatusAndMetrics(t *testing.T) {
	t.Setenv("HKV_TEST_VRRP_PASS", "right")
	clock := vrrptest.NewClock(epoch)
	nw := vrrptest.NewNetwork(clock)
	clock.SetSettle(nw.Settle)
	host := nw.NewHost("lb1", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1"))
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: host, Addrs: vrrptest.NewAddresses(), Announcer: vrrptest.NewAnnouncer(clock),
		Links: vrrptest.NewLinks(), Runner: vrrptest.NewRunner(clock)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	src := &memSource{}
	src.set("cluster.yaml", passCluster)
	ctl, err := controller.New(controller.Config{Node: "lb1", Source: src, Engine: e,
		LastGood: controller.NewLastGood(t.TempDir()), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if r := ctl.Status(); !r.Healthy {
		t.Fatalf("before any foreign advert: degraded %q", r.Degraded)
	}

	peer := netip.MustParseAddr("192.0.2.2")
	wrong, err := packet.Encode(&packet.Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}, AuthType: packet.AuthPass, AuthData: packet.PassAuth("wrong")},
		peer, packet.Group4)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		nw.Inject(peer, packet.Group4, 255, wrong)
		clock.Advance(time.Second)
	}
	r := ctl.Status()
	web := groupOf(t, r, "web")
	if r.Healthy || !strings.Contains(r.Degraded, "group web: split-brain suspected: 3 adverts") || !strings.Contains(r.Degraded, "192.0.2.2") {
		t.Errorf("healthy %v, degraded %q; want not healthy naming group web, 3 adverts and 192.0.2.2", r.Healthy, r.Degraded)
	}
	if !strings.Contains(web.SplitBrain, "bad-auth") || web.State != "master" {
		t.Errorf("web %s, split brain %q; want master with bad-auth split brain", web.State, web.SplitBrain)
	}
	if d := ctl.Degradation(); !strings.Contains(d, "split-brain suspected") {
		t.Errorf("Degradation (for /healthz) %q lacks the split brain", d)
	}
	m := ctl.Metrics()
	if v, ok := seriesValue(t, m, "hakeeper_vrrp_split_brain_suspected", map[string]string{"group": "web"}); !ok || v != 1 {
		t.Errorf("hakeeper_vrrp_split_brain_suspected{group=web} = %v (present %v), want 1", v, ok)
	}
	if v, ok := seriesValue(t, m, "hakeeper_vrrp_drops_total", map[string]string{"group": "web", "reason": "bad-auth"}); !ok || v != 3 {
		t.Errorf("hakeeper_vrrp_drops_total{group=web,reason=bad-auth} = %v, want 3", v)
	}

	clock.Advance(time.Minute)
	if r := ctl.Status(); !r.Healthy || groupOf(t, r, "web").SplitBrain != "" {
		t.Errorf("a minute after the last foreign advert: healthy %v, degraded %q", r.Healthy, r.Degraded)
	}
	if v, _ := seriesValue(t, m, "hakeeper_vrrp_split_brain_suspected", map[string]string{"group": "web"}); v != 0 {
		t.Errorf("split-brain gauge %v after it cleared, want 0", v)
	}
}

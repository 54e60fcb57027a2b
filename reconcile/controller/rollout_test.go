package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/lvs/realserver/realservertest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd/bgp/bgptest"
)

// fakePeers reports what the test sets.
type fakePeers struct {
	mu    sync.Mutex
	peers []status.Peer
	nodes map[string]string
}

func (f *fakePeers) SetNodes(n map[string]string) { f.mu.Lock(); f.nodes = n; f.mu.Unlock() }
func (f *fakePeers) Status() []status.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]status.Peer(nil), f.peers...)
}
func (f *fakePeers) set(p ...status.Peer) { f.mu.Lock(); f.peers = p; f.mu.Unlock() }

// checkedCluster is lb1 and lb2 with one checked service; servers are
// its real servers' lines.
func checkedCluster(servers ...string) string {
	s := `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/24]
    nodes: [lb1, lb2]
services:
  http:
    vip: 192.0.2.100
    port: 80
    check: {tcp: {}}
    realServers:
`
	for _, rs := range servers {
		s += "      - {address: " + rs + "}\n"
	}
	return s
}

const rolloutWindow = 30 * time.Second

// startRollout runs lb1 with the rollout on, master of web, and lb2
// reported settled on whatever revision the test names.
func startRollout(t *testing.T) (*node, *fakePeers) {
	t.Helper()
	src := &memSource{}
	src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2"))
	peers := &fakePeers{}
	var n *node
	n = newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
		c.Rollout = &controller.Rollout{Peers: peers, Window: rolloutWindow, Wait: time.Hour}
		c.Now = func() time.Time { return n.clock.Now() }
	})
	n.src = src
	if _, err := n.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(4 * time.Second)
	if !n.hasVIP("192.0.2.100") {
		t.Fatal("lb1 did not become master")
	}
	if r := n.ctl.Status().Rollout; r == nil || !r.Settled {
		t.Fatalf("first revision not settled at once: %+v", r)
	}
	return n, peers
}

func settledPeer(rev string) status.Peer {
	return status.Peer{Node: "lb2", Reachable: true, Applied: rev, Settled: true, Healthy: true}
}

// A change whose added real server fails its check is rolled back on
// the first pass that sees it; the revision is marked bad, reported, and
// not applied again; a newer commit is.
func TestRolloutRollsBackAddedServerFailing(t *testing.T) {
	n, peers := startRollout(t)
	good := n.ctl.Status().Applied.ID
	n.checker.setDown("198.51.100.3:80", true)
	bad := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	// The master holds it for lb2 until lb2 reports it settled.
	if res, _ := n.reconcile(true); res.Applied {
		t.Fatal("master applied before its backup reported the revision")
	}
	if r := n.ctl.Status().Rollout; r.Waiting != bad.ID || len(r.WaitingFor) != 1 || r.WaitingFor[0] != "lb2" {
		t.Fatalf("rollout %+v, want waiting for lb2", r)
	}
	// Applied once lb2 reports it settled, and rolled back by the same
	// pass: the fake checker has its verdict on the new server at once.
	peers.set(settledPeer(bad.ID))
	res, err := n.reconcile(true)
	if err == nil || res.Revision != good || !strings.Contains(err.Error(), "198.51.100.3:80 fails its check") {
		t.Fatalf("pass with lb2 settled: %+v %v, want the apply rolled back", res, err)
	}
	st := n.ctl.Status()
	if st.Applied.ID != good || st.Healthy || len(st.Rollout.Bad) != 1 || st.Rollout.Bad[0].ID != bad.ID || st.Rollout.Bad[0].By != "lb1" {
		t.Fatalf("after the rollback: applied %s healthy %v bad %+v", st.Applied.ID, st.Healthy, st.Rollout.Bad)
	}
	if !strings.Contains(st.Degraded, "rolled back") || !strings.Contains(st.Degraded, bad.ID[:12]) {
		t.Errorf("degraded %q", st.Degraded)
	}
	writes := n.writes()
	if res, err := n.reconcile(true); res.Applied || err == nil || n.writes() != writes {
		t.Errorf("bad revision fetched again: %+v %v, %d writes", res, err, n.writes()-writes)
	}
	newer := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.4"))
	peers.set(settledPeer(newer.ID))
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("newer commit: %+v %v", res, err)
	}
	if st := n.ctl.Status(); st.Applied.ID != newer.ID || !st.Healthy {
		t.Errorf("newer commit: applied %s healthy %v (%s)", st.Applied.ID, st.Healthy, st.Degraded)
	}
}

// An unchanged server dying while a change is watched is no reason to
// undo the change: it settles when the window ends.
func TestRolloutIgnoresUnchangedServerDying(t *testing.T) {
	n, peers := startRollout(t)
	rev := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	peers.set(settledPeer(rev.ID))
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	n.checker.setDown("198.51.100.2:80", true)
	if _, err := n.reconcile(false); err != nil {
		t.Fatal(err)
	}
	if r := n.ctl.Status().Rollout; r.Settled || r.Watching != rev.ID {
		t.Fatalf("rollout %+v, want watching", r)
	}
	n.clock.Advance(rolloutWindow)
	if _, err := n.reconcile(false); err != nil {
		t.Fatal(err)
	}
	st := n.ctl.Status()
	if st.Applied.ID != rev.ID || !st.Rollout.Settled || len(st.Rollout.Bad) != 0 {
		t.Errorf("applied %s, rollout %+v: want the change settled", st.Applied.ID, st.Rollout)
	}
}

// A revision that changes nothing this node runs is applied and settled
// at once, even by a master with no peer reporting.
func TestRolloutNoChangeSettlesAtOnce(t *testing.T) {
	n, _ := startRollout(t)
	rev := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2")+"# a comment only\n")
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	if r := n.ctl.Status().Rollout; !r.Settled || r.Waiting != "" || r.Watching != "" || n.ctl.Status().Applied.ID != rev.ID {
		t.Errorf("rollout %+v, want settled at once", r)
	}
}

// A revision a peer rolled back is refused by the master, never applied.
func TestRolloutRefusesPeersBadRevision(t *testing.T) {
	n, peers := startRollout(t)
	good := n.ctl.Status().Applied.ID
	rev := n.src.set("cluster.yaml", checkedCluster("198.51.100.1"))
	p := settledPeer(good)
	p.Bad = []string{rev.ID}
	peers.set(p)
	writes := n.writes()
	res, err := n.reconcile(true)
	if res.Applied || err == nil || !strings.Contains(err.Error(), "rolled back on lb2") || n.writes() != writes {
		t.Fatalf("%+v %v, %d writes", res, err, n.writes()-writes)
	}
	if st := n.ctl.Status(); st.Applied.ID != good || len(st.Rollout.Bad) != 1 || st.Rollout.Bad[0].By != "lb2" {
		t.Errorf("applied %s bad %+v", st.Applied.ID, st.Rollout.Bad)
	}
}

// A bad mark outlives a restart: the restarted node starts with the last
// good revision from its state directory rather than the newest, bad one.
func TestRolloutBadMarkOutlivesRestart(t *testing.T) {
	n, peers := startRollout(t)
	good := n.ctl.Status().Applied.ID
	n.checker.setDown("198.51.100.3:80", true)
	bad := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	peers.set(settledPeer(bad.ID))
	if _, err := n.reconcile(true); err == nil {
		t.Fatal("no rollback")
	}
	again := newNodeWith(t, "lb1", n.src, n.stateDir, func(c *controller.Config) {
		c.Rollout = &controller.Rollout{Peers: &fakePeers{}, Window: rolloutWindow}
	})
	if _, err := again.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := again.ctl.Status()
	if st.Applied.ID != good || len(st.Rollout.Bad) != 1 || st.Rollout.Bad[0].ID != bad.ID || !strings.Contains(st.Degraded, "marked bad") {
		t.Errorf("restarted: applied %s, bad %+v, degraded %q; want %s running and %s refused", st.Applied.ID, st.Rollout.Bad, st.Degraded, good, bad.ID)
	}
}

// A backup that applied the revision but is degraded does not release
// the master.
func TestRolloutWaitsForHealthyBackup(t *testing.T) {
	n, peers := startRollout(t)
	rev := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	p := settledPeer(rev.ID)
	p.Healthy = false
	peers.set(p)
	if res, _ := n.reconcile(true); res.Applied {
		t.Fatal("master applied on a degraded backup's report")
	}
	peers.set(settledPeer(rev.ID))
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("backup healthy: %+v %v", res, err)
	}
}

// With no backup reporting, the master applies once the bounded wait
// has passed, and says which backups it went without.
func TestRolloutBoundedWait(t *testing.T) {
	n, _ := startRollout(t)
	rev := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	if res, _ := n.reconcile(true); res.Applied {
		t.Fatal("master applied with no backup reporting")
	}
	n.clock.Advance(time.Hour) // startRollout's wait
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("after the wait: %+v %v", res, err)
	}
	st := n.ctl.Status()
	if st.Applied.ID != rev.ID || len(st.Rollout.Unconfirmed) != 1 || st.Rollout.Unconfirmed[0] != "lb2" || st.Rollout.Waiting != "" {
		t.Errorf("applied %s, rollout %+v", st.Applied.ID, st.Rollout)
	}
}

// Bad marks are capped alike on disk, in memory and in the metric: a
// node that rolled back more revisions than the cap keeps the newest.
func TestRolloutBadMarksCapped(t *testing.T) {
	dir := t.TempDir()
	var old []status.BadRevision
	for i := range 150 {
		old = append(old, status.BadRevision{ID: fmt.Sprintf("%040d", i), Reason: "test", By: "lb2", At: epoch.Add(-time.Duration(150-i) * time.Hour)})
	}
	b, _ := json.Marshal(old)
	if err := os.WriteFile(filepath.Join(dir, "bad-revisions.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2"))
	peers := &fakePeers{}
	var n *node
	n = newNodeWith(t, "lb1", src, dir, func(c *controller.Config) {
		c.Rollout = &controller.Rollout{Peers: peers, Window: rolloutWindow, Wait: time.Hour}
		c.Now = func() time.Time { return n.clock.Now() }
	})
	n.src = src
	if _, err := n.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(4 * time.Second)
	n.checker.setDown("198.51.100.3:80", true)
	bad := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	peers.set(settledPeer(bad.ID))
	if _, err := n.reconcile(true); err == nil {
		t.Fatal("no rollback")
	}
	marks := n.ctl.Status().Rollout.Bad
	ids := map[string]bool{}
	for _, m := range marks {
		ids[m.ID] = true
	}
	// The newest 99 loaded (50..149) and the rollback's.
	if len(marks) != 100 || !ids[bad.ID] || ids[old[50].ID] || !ids[old[51].ID] {
		t.Errorf("%d marks in memory, want 100: the rollback's and the newest loaded", len(marks))
	}
	families, err := n.ctl.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "hakeeper_rollout_bad_revision" && len(f.GetMetric()) != 100 {
			t.Errorf("%d hakeeper_rollout_bad_revision series, want 100", len(f.GetMetric()))
		}
	}
}

// A bgp group has no master: hakeeper_cluster_vip_masters leaves it out
// (a 0 there would page for nothing) and hakeeper_cluster_vip_announcers
// counts the nodes announcing it.
func TestClusterMetricsBGPGroup(t *testing.T) {
	n, peers := startRollout(t)
	p := settledPeer(n.ctl.Status().Applied.ID)
	p.Groups = []status.PeerGroup{{Name: "web", State: "backup"}, {Name: "www", State: status.StateAnnouncing}}
	peers.set(p)
	families, err := n.ctl.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" {
					got[f.GetName()+"/"+l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if v, ok := got["hakeeper_cluster_vip_masters/www"]; ok {
		t.Errorf("hakeeper_cluster_vip_masters{group=www} %v, want no such series", v)
	}
	if got["hakeeper_cluster_vip_masters/web"] != 1 || got["hakeeper_cluster_vip_announcers/www"] != 1 {
		t.Errorf("series %v, want web 1 master and www 1 announcer", got)
	}
}

// A bgp group has no master to hold a change back: a member applies a
// change of the group at once, its peers not having applied it.
func TestRolloutBGPGroupUnordered(t *testing.T) {
	dir := t.TempDir()
	cluster := strings.Replace(bgpControllerCluster, "passwordFile: PASSWORD, ", "", 1)
	src := &memSource{}
	src.set("cluster.yaml", cluster)
	peers := &fakePeers{}
	var n *node
	n = newNodeWith(t, "lb2", src, dir, func(c *controller.Config) {
		c.BGP = &bgptest.Fake{}
		k := realservertest.New()
		k.Sysctls["net.ipv4.vs.sloppy_tcp"], k.Sysctls["net.ipv4.vs.sloppy_sctp"] = "0", "0"
		c.RealServer = &realserver.Programmer{Kernel: k, StatePath: filepath.Join(dir, "realserver-owned.json")}
		c.Rollout = &controller.Rollout{Peers: peers, Window: rolloutWindow, Wait: time.Hour}
		c.Now = func() time.Time { return n.clock.Now() }
	})
	n.src = src
	if _, err := n.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	peers.set(status.Peer{Node: "lb1", Reachable: true, Applied: n.ctl.Status().Applied.ID, Settled: true, Healthy: true,
		Groups: []status.PeerGroup{{Name: "web", State: status.StateAnnouncing}}})
	rev := n.src.set("cluster.yaml", strings.Replace(cluster, "realServers: [{address: 198.51.100.1}]", "realServers: [{address: 198.51.100.1}, {address: 198.51.100.2}]", 1))
	res, err := n.reconcile(true)
	if err != nil || !res.Applied || n.ctl.Status().Applied.ID != rev.ID || n.ctl.Status().Rollout.Waiting != "" {
		t.Fatalf("%+v %v, rollout %+v: want the change applied at once", res, err, n.ctl.Status().Rollout)
	}
}

// logWitness records what the controller reported at the moment it
// logged "applied" or "revision settled".
type logWitness struct {
	ctl  func() *controller.Controller
	mu   sync.Mutex
	seen []witnessed
}

type witnessed struct {
	msg, revision    string
	healthy, settled bool
}

func (w *logWitness) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWitness) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *logWitness) WithGroup(string) slog.Handler            { return w }
func (w *logWitness) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "applied" && !strings.HasPrefix(r.Message, "revision settled") {
		return nil
	}
	e := witnessed{msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "revision" {
			e.revision = a.Value.String()
		}
		return true
	})
	st := w.ctl().Status()
	e.healthy, e.settled = st.Healthy, st.Rollout.Settled
	w.mu.Lock()
	w.seen = append(w.seen, e)
	w.mu.Unlock()
	return nil
}

func (w *logWitness) last(msg string) (witnessed, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.seen) - 1; i >= 0; i-- {
		if strings.HasPrefix(w.seen[i].msg, msg) {
			return w.seen[i], true
		}
	}
	return witnessed{}, false
}

// startWitnessed runs lb1 with the rollout on and its log witnessed; it
// has not become master (the master-down timer has not run), so it
// applies a change at once, as a backup does.
func startWitnessed(t *testing.T) (*node, *logWitness) {
	t.Helper()
	src := &memSource{}
	src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2"))
	var n *node
	w := &logWitness{ctl: func() *controller.Controller { return n.ctl }}
	n = newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
		c.Rollout = &controller.Rollout{Peers: &fakePeers{}, Window: rolloutWindow, Wait: time.Hour}
		c.Now = func() time.Time { return n.clock.Now() }
		c.Logger = slog.New(w)
	})
	n.src = src
	if _, err := n.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return n, w
}

// A backup's "revision settled" line is written before its report says
// settled: a master applies on that report, so the line on the backup
// (what an operator, or the lab test, reads) always precedes the
// master's apply, however the backup's goroutines are scheduled.
func TestRolloutSettledLoggedBeforeReported(t *testing.T) {
	n, w := startWitnessed(t)
	n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	if res, err := n.reconcile(true); !res.Applied || err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	if r := n.ctl.Status().Rollout; r.Settled {
		t.Fatalf("rollout %+v, want the change watched", r)
	}
	n.clock.Advance(rolloutWindow)
	if _, err := n.reconcile(false); err != nil {
		t.Fatal(err)
	}
	if e, ok := w.last("revision settled"); !ok || e.settled {
		t.Errorf("settled logged %v, already reported settled when logged %v; want logged first", ok, e.settled)
	}
	if !n.ctl.Status().Rollout.Settled {
		t.Error("not reported settled after the window")
	}
}

// A rollback reports the node degraded from its start: never, not even
// while the good revision's apply is logged, healthy on the revision it
// returned to, which a status poll would take for a change that went well.
func TestRolloutRollbackNeverReportsHealthy(t *testing.T) {
	n, w := startWitnessed(t)
	good := n.ctl.Status().Applied.ID
	n.checker.setDown("198.51.100.3:80", true)
	bad := n.src.set("cluster.yaml", checkedCluster("198.51.100.1", "198.51.100.2", "198.51.100.3"))
	res, err := n.reconcile(true)
	if err == nil || res.Revision != good {
		t.Fatalf("pass: %+v %v, want %s applied and rolled back", res, err, bad.ID)
	}
	e, ok := w.last("applied")
	if !ok || !strings.HasPrefix(good, e.revision) {
		t.Fatalf("last apply logged %+v, want the rollback to %s", e, good)
	}
	if e.healthy {
		t.Error("reported healthy while the rollback's apply was logged")
	}
	if st := n.ctl.Status(); st.Healthy || !strings.Contains(st.Degraded, "rolled back") {
		t.Errorf("after the rollback: healthy %v, degraded %q", st.Healthy, st.Degraded)
	}
}

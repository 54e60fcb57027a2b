package controller_test

import (
	"bytes"
	"context"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

const trackedCluster = `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
checks:
  web-alive:
    command: check-web
    interval: 1s
    fall: 2
    weight: -20
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/24]
    nodes: [lb1, lb2]
    trackInterfaces: [{interface: eth1, weight: 10}]
    trackChecks: [{check: web-alive}]
  api:
    vrid: 52
    vips: [192.0.2.101/24]
    nodes: [lb1, lb2]
    trackChecks: [{check: web-alive, weight: -30}]
`

// trackedNode is a controller whose engine's check runner and links the
// test drives.
type trackedNode struct {
	clock  *vrrptest.Clock
	runner *vrrptest.Runner
	links  *vrrptest.Links
	engine *vrrpd.Engine
	ctl    *controller.Controller
}

func newTrackedNode(t *testing.T) *trackedNode {
	t.Helper()
	clock := vrrptest.NewClock(epoch)
	nw := vrrptest.NewNetwork(clock)
	clock.SetSettle(nw.Settle)
	n := &trackedNode{clock: clock, runner: vrrptest.NewRunner(clock), links: vrrptest.NewLinks()}
	host := nw.NewHost("lb1", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1"))
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: host, Addrs: vrrptest.NewAddresses(), Announcer: vrrptest.NewAnnouncer(clock),
		Links: n.links, Runner: n.runner})
	if err != nil {
		t.Fatal(err)
	}
	n.engine = e
	// Run watches the links, as hakeeper run does; wait until it listens.
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	for n.links.Watchers() == 0 {
		runtime.Gosched()
	}
	src := &memSource{}
	src.set("cluster.yaml", trackedCluster)
	n.ctl, err = controller.New(controller.Config{Node: "lb1", Source: src, Engine: e,
		LastGood: controller.NewLastGood(t.TempDir()), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkRuns counts the check results the engine has taken in.
func (n *trackedNode) checkRuns() uint64 {
	var sum uint64
	for _, c := range n.engine.CheckStatus() {
		sum += c.Runs.Passed + c.Runs.Failed + c.Runs.Errors
	}
	return sum
}

// step advances the clock by d, which must reach the check's next run
// exactly, and waits until the engine has the result. The run finishes
// in its own goroutine, which then arms the next one d later: stepping
// onto each deadline keeps the runs at whole intervals from the start.
func (n *trackedNode) step(t *testing.T, d time.Duration) {
	t.Helper()
	runs := n.checkRuns()
	n.clock.Advance(d)
	for deadline := time.Now().Add(10 * time.Second); n.checkRuns() == runs; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no check result after advancing the clock to %v", n.clock.Now())
		}
	}
}

func groupOf(t *testing.T, r *status.Report, name string) status.VIPGroup {
	t.Helper()
	for _, g := range r.VIPGroups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no VIP group %q in %+v", name, r.VIPGroups)
	return status.VIPGroup{}
}

// series returns the value of the series name with exactly these labels,
// and whether it exists.
func seriesValue(t *testing.T, m *controller.Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range mt.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && got[k] == v
			}
			if !match {
				continue
			}
			if mt.Counter != nil {
				return mt.Counter.GetValue(), true
			}
			return mt.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// A failing tracked check shows in /status (each group with its own
// weight in force, the check once with its counts), in the table and in
// the metrics, as does a tracked interface going down.
func TestTrackedCheckInStatusAndMetrics(t *testing.T) {
	n := newTrackedNode(t)
	n.step(t, 0) // the first run, at start: passes
	r := n.ctl.Status()
	web := groupOf(t, r, "web")
	if len(web.Tracks) != 2 || web.Tracks[0].Kind != "interface" || web.Tracks[0].Name != "eth1" ||
		web.Tracks[1].Kind != "check" || web.Tracks[1].Name != "web-alive" {
		t.Fatalf("web tracks %+v, want interface eth1 then check web-alive", web.Tracks)
	}
	if tr := web.Tracks[1]; !tr.Up || tr.Weight != -20 || tr.Contribution != 0 || tr.LastResult != "pass" {
		t.Errorf("passing check track %+v, want up, -20 not applied, last pass", tr)
	}
	if web.Priority != web.BasePriority+10 {
		t.Errorf("web priority %d/%d, want +10 for eth1 up", web.Priority, web.BasePriority)
	}

	n.runner.SetExit("check-web", 2)
	n.step(t, time.Second)
	n.step(t, time.Second) // two failures: fall 2
	failedAt := epoch.Add(2 * time.Second)
	r = n.ctl.Status()
	web, api := groupOf(t, r, "web"), groupOf(t, r, "api")
	tr := web.Tracks[1]
	if tr.Up || tr.Contribution != -20 || !tr.Since.Equal(failedAt) || tr.LastResult != "exit 2" || tr.Fault {
		t.Errorf("failing check track %+v, want down, -20 applied since %v, last exit 2", tr, failedAt)
	}
	if web.Priority != web.BasePriority+10-20 {
		t.Errorf("web priority %d/%d, want base +10 -20", web.Priority, web.BasePriority)
	}
	if tr := api.Tracks[0]; tr.Weight != -30 || tr.Contribution != -30 {
		t.Errorf("api's track %+v, want its own weight -30 applied", tr)
	}
	if len(r.TrackChecks) != 1 {
		t.Fatalf("trackChecks %+v, want web-alive once", r.TrackChecks)
	}
	c := r.TrackChecks[0]
	if c.Name != "web-alive" || c.Passing || c.ConsecutiveFail != 2 || c.RunsPassed != 1 || c.RunsFailed != 2 ||
		c.Fall != 2 || c.LastResult != "exit 2" || !slices.Equal(c.Groups, []string{"api", "web"}) {
		t.Errorf("trackChecks[0] %+v", c)
	}

	var text bytes.Buffer
	if err := status.WriteText(&text, r, n.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  track check web-alive  failing  weight -20 (applied)") {
		t.Errorf("table lacks the failing check under web:\n%s", text.String())
	}

	m := n.ctl.Metrics()
	for _, want := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"hakeeper_vrrp_track_up", map[string]string{"group": "web", "kind": "check", "name": "web-alive"}, 0},
		{"hakeeper_vrrp_track_up", map[string]string{"group": "web", "kind": "interface", "name": "eth1"}, 1},
		{"hakeeper_vrrp_track_weight_applied", map[string]string{"group": "web", "kind": "check", "name": "web-alive"}, -20},
		{"hakeeper_vrrp_track_weight_applied", map[string]string{"group": "api", "kind": "check", "name": "web-alive"}, -30},
		{"hakeeper_vrrp_track_weight_applied", map[string]string{"group": "web", "kind": "interface", "name": "eth1"}, 10},
		{"hakeeper_vrrp_track_check_runs_total", map[string]string{"check": "web-alive", "result": "pass"}, 1},
		{"hakeeper_vrrp_track_check_runs_total", map[string]string{"check": "web-alive", "result": "fail"}, 2},
		{"hakeeper_vrrp_track_check_runs_total", map[string]string{"check": "web-alive", "result": "error"}, 0},
	} {
		if got, ok := seriesValue(t, m, want.name, want.labels); !ok || got != want.value {
			t.Errorf("%s%v = %v (present %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}

	// The interface going down takes its +10 away, from that moment.
	n.links.Set("eth1", false)
	downAt := n.clock.Now()
	web = groupOf(t, n.ctl.Status(), "web")
	if tr := web.Tracks[0]; tr.Up || tr.Contribution != 0 || !tr.Since.Equal(downAt) {
		t.Errorf("eth1 track %+v, want down, nothing added, since %v", tr, downAt)
	}
	if got, ok := seriesValue(t, m, "hakeeper_vrrp_track_up", map[string]string{"group": "web", "kind": "interface", "name": "eth1"}); !ok || got != 0 {
		t.Errorf("track_up for eth1 = %v (present %v), want 0", got, ok)
	}
}

// A group without tracks reports none, and no track series exist.
func TestNoTracksNoTrackSeries(t *testing.T) {
	n := start(t)
	r := n.ctl.Status()
	if len(r.TrackChecks) != 0 || len(groupOf(t, r, "web").Tracks) != 0 {
		t.Errorf("tracks reported without any tracked: %+v %+v", r.TrackChecks, r.VIPGroups)
	}
	families, err := n.ctl.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "hakeeper_vrrp_track") {
			t.Errorf("series %s without tracking", f.GetName())
		}
	}
}

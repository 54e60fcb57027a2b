package controller_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// memSource serves whatever revision the test sets.
type memSource struct {
	mu      sync.Mutex
	rev     *source.Revision
	err     error
	applied []string
}

func (s *memSource) set(files ...string) *source.Revision {
	var mf []model.File
	h := sha256.New()
	for i := 0; i < len(files); i += 2 {
		mf = append(mf, model.File{Name: files[i], Data: []byte(files[i+1])})
		h.Write([]byte(files[i] + "\x00" + files[i+1]))
	}
	rev := &source.Revision{ID: hex.EncodeToString(h.Sum(nil))[:40], Files: mf, Summary: "test"}
	s.mu.Lock()
	s.rev, s.err = rev, nil
	s.mu.Unlock()
	return rev
}

func (s *memSource) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *memSource) Latest(context.Context) (*source.Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.rev == nil {
		return nil, errors.New("nothing yet")
	}
	return s.rev, nil
}

func (s *memSource) Watch(ctx context.Context, notify func()) error { <-ctx.Done(); return nil }

func (s *memSource) Applied(id string) {
	s.mu.Lock()
	s.applied = append(s.applied, id)
	s.mu.Unlock()
}

func (s *memSource) appliedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.applied...)
}

func (s *memSource) String() string { return "mem" }

// countingEngine is the real engine on fake kernel parts, counting Applys.
type countingEngine struct {
	*vrrpd.Engine
	mu      sync.Mutex
	applies int
}

func (e *countingEngine) Apply(s *model.NodeState) error {
	e.mu.Lock()
	e.applies++
	e.mu.Unlock()
	return e.Engine.Apply(s)
}

func (e *countingEngine) applyCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.applies
}

// fakeChecker reports every server up unless marked down.
type fakeChecker struct {
	mu       sync.Mutex
	down     map[netip.AddrPort]bool
	services []model.VirtualService
	updates  int
	changes  chan struct{}
	closed   bool
}

var _ controller.Checker = (*fakeChecker)(nil)

func newFakeChecker() *fakeChecker {
	return &fakeChecker{down: map[netip.AddrPort]bool{}, changes: make(chan struct{}, 1)}
}

func (f *fakeChecker) Update(s []model.VirtualService) {
	f.mu.Lock()
	f.updates++
	f.services = s
	f.mu.Unlock()
}

func (f *fakeChecker) setDown(addr string, down bool) {
	f.mu.Lock()
	f.down[netip.MustParseAddrPort(addr)] = down
	f.mu.Unlock()
	select {
	case f.changes <- struct{}{}:
	default:
	}
}

func (f *fakeChecker) HealthFunc(model.VirtualService) func(model.RealServerSpec) bool {
	return func(rs model.RealServerSpec) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return !f.down[netip.AddrPortFrom(rs.Address, rs.Port)]
	}
}

func (f *fakeChecker) Status() []check.ServerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []check.ServerStatus
	for i := range f.services {
		vs := &f.services[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			ap := netip.AddrPortFrom(rs.Address, rs.Port)
			out = append(out, check.ServerStatus{Key: check.KeyOf(vs, rs), Service: vs.Name, Server: ap.String(),
				Check: "tcp", Healthy: !f.down[ap], LastCheck: epoch, Checks: 1, LastError: f.lastError(ap)})
		}
	}
	return out
}

// lastError is a down server's check error; called with f.mu held.
func (f *fakeChecker) lastError(ap netip.AddrPort) string {
	if f.down[ap] {
		return "connect: connection refused"
	}
	return ""
}

func (f *fakeChecker) Changes() <-chan struct{} { return f.changes }
func (f *fakeChecker) Close()                   { f.mu.Lock(); f.closed = true; f.mu.Unlock() }

// node is one controller on fake kernel parts.
type node struct {
	t        testing.TB
	clock    *vrrptest.Clock
	net      *vrrptest.Network
	addrs    *vrrptest.Addresses
	engine   *countingEngine
	ipvs     *lvstest.Fake
	checker  *fakeChecker
	src      *memSource
	stateDir string
	ctl      *controller.Controller
}

func newNode(t *testing.T, src *memSource, stateDir string) *node {
	t.Helper()
	n := newNodeFrom(t, src, stateDir)
	n.src = src
	return n
}

// newNodeFrom runs a controller for lb1 following any source.
func newNodeFrom(t testing.TB, src source.Source, stateDir string) *node {
	return newNodeNamed(t, "lb1", src, stateDir)
}

func newNodeNamed(t testing.TB, name string, src source.Source, stateDir string) *node {
	t.Helper()
	return newNodeWith(t, name, src, stateDir, nil)
}

// newNodeWith lets tune change the controller's configuration.
func newNodeWith(t testing.TB, name string, src source.Source, stateDir string, tune func(*controller.Config)) *node {
	t.Helper()
	clock := vrrptest.NewClock(epoch)
	n := &node{t: t, clock: clock, net: vrrptest.NewNetwork(clock), addrs: vrrptest.NewAddresses(),
		ipvs: &lvstest.Fake{}, checker: newFakeChecker(), stateDir: stateDir}
	clock.SetSettle(n.settle)
	host := n.net.NewHost("lb1", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1"))
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: host, Addrs: n.addrs, Announcer: vrrptest.NewAnnouncer(clock),
		Links: vrrptest.NewLinks(), Runner: vrrptest.NewRunner(clock)})
	if err != nil {
		t.Fatal(err)
	}
	n.engine = &countingEngine{Engine: e}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	cfg := controller.Config{
		Node: name, Source: src, Engine: n.engine,
		IPVS:     &lvs.Programmer{IPVS: n.ipvs, StatePath: filepath.Join(stateDir, "ipvs-owned.json")},
		Checker:  n.checker,
		Addrs:    n.addrs,
		LastGood: controller.NewLastGood(stateDir),
	}
	if tune != nil {
		tune(&cfg)
	}
	n.ctl, err = controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) settle() {
	n.net.Settle()
}

func (n *node) reconcile(fetch bool) (controller.Result, error) {
	n.t.Helper()
	res, err := n.ctl.Reconcile(context.Background(), "test", fetch)
	n.clock.Advance(0)
	return res, err
}

// writes is every kernel write so far: address adds and deletes, IPVS writes.
func (n *node) writes() int {
	adds, dels := n.addrs.Counts()
	return adds + dels + n.ipvs.Writes
}

func (n *node) hasVIP(a string) bool { return n.addrs.Has("eth0", netip.MustParseAddr(a)) }

func (n *node) weights() map[string]uint32 {
	out := map[string]uint32{}
	for _, vs := range n.ipvs.Table() {
		for _, d := range vs.Destinations {
			out[vs.Service.Key().String()+" "+d.Key().String()] = d.Weight
		}
	}
	return out
}

const baseCluster = `cluster: test
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [VIPS]
    nodes: [lb1, lb2]
    advertInterval: ADVERT
services:
  http:
    vip: 192.0.2.100
    port: 80
    realServers:
      - {address: 198.51.100.1, weight: W1}
      - {address: 198.51.100.2}
`

func cluster(vips, advert string, w1 int) string {
	return strings.NewReplacer("VIPS", vips, "ADVERT", advert, "W1", fmt.Sprint(w1)).Replace(baseCluster)
}

func defaultCluster() string { return cluster("192.0.2.100/24", "1s", 1) }

// start applies the default description and makes lb1 master.
func start(t *testing.T) *node {
	t.Helper()
	src := &memSource{}
	src.set("cluster.yaml", defaultCluster())
	n := newNode(t, src, t.TempDir())
	res, err := n.ctl.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || !res.VRRPApplied || res.IPVSOps != 3 {
		t.Fatalf("first pass %+v, want applied with the engine and 3 IPVS writes (service and two destinations)", res)
	}
	n.clock.Advance(4 * time.Second) // master-down interval: lb1 alone becomes master
	if !n.hasVIP("192.0.2.100") {
		t.Fatal("lb1 did not become master and add the VIP")
	}
	return n
}

func TestInSyncMakesNoWrites(t *testing.T) {
	n := start(t)
	before, applies := n.writes(), n.engine.applyCount()
	for _, fetch := range []bool{true, false, true} {
		res, err := n.reconcile(fetch)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied || res.VRRPApplied || res.IPVSOps != 0 || res.Repaired != 0 {
			t.Errorf("in-sync pass (fetch=%v) did %+v", fetch, res)
		}
	}
	if got := n.writes() - before; got != 0 {
		t.Errorf("in-sync passes made %d kernel writes, want 0", got)
	}
	if got := n.engine.applyCount() - applies; got != 0 {
		t.Errorf("engine re-applied %d times with nothing changed", got)
	}
	if st := n.ctl.Status(); st.LastReconcile.Result != "in-sync" || !st.Healthy {
		t.Errorf("status %+v, want in-sync and healthy", st.LastReconcile)
	}
}

func TestOneFieldOneOperation(t *testing.T) {
	n := start(t)
	ipvsBefore, applies := n.ipvs.Writes, n.engine.applyCount()
	n.src.set("cluster.yaml", cluster("192.0.2.100/24", "1s", 5))
	res, err := n.reconcile(true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.VRRPApplied || res.IPVSOps != 1 || n.ipvs.Writes-ipvsBefore != 1 {
		t.Errorf("weight change: %+v, %d IPVS writes; want applied, engine untouched, 1 write", res, n.ipvs.Writes-ipvsBefore)
	}
	if w := n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"]; w != 5 {
		t.Errorf("weight in IPVS %d, want 5", w)
	}
	if n.engine.applyCount() != applies {
		t.Error("engine re-applied for an IPVS-only change")
	}

	// A VRRP-only change: the engine gets it, IPVS is not written.
	ipvsBefore = n.ipvs.Writes
	n.src.set("cluster.yaml", cluster("192.0.2.100/24", "2s", 5))
	res, err = n.reconcile(true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.VRRPApplied || res.IPVSOps != 0 || n.ipvs.Writes != ipvsBefore {
		t.Errorf("advert change: %+v, want the engine applied and no IPVS write", res)
	}
}

func TestBadRevisionChangesNothing(t *testing.T) {
	cases := []struct {
		desc      string
		files     []string
		failAt    int // IPVS write that fails (relative), 0: none
		stage     string
		wantInMsg string
	}{
		{desc: "invalid YAML", files: []string{"cluster.yaml", "cluster: test\nnodes: [\n"}, stage: "load", wantInMsg: "cluster.yaml:"},
		{desc: "validation error", files: []string{"cluster.yaml", strings.Replace(defaultCluster(), "vrid: 51", "vrid: 300", 1)},
			stage: "load", wantInMsg: "cluster.yaml:7:5: vipGroups.web.vrid"},
		{desc: "node missing", files: []string{"cluster.yaml", strings.NewReplacer("lb1", "lb3").Replace(defaultCluster())},
			stage: "resolve", wantInMsg: `node "lb1"`},
		{desc: "IPVS refuses", files: []string{"cluster.yaml", cluster("192.0.2.100/24, 192.0.2.101/24", "1s", 9)},
			failAt: 1, stage: "apply", wantInMsg: "injected failure"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			n := start(t)
			good := n.ctl.Status().Applied.ID
			weights := n.weights()
			errsBefore := metricValue(t, n.ctl.Metrics(), "hakeeper_reconcile_errors_total")
			if tc.failAt > 0 {
				n.ipvs.FailAt = n.ipvs.Writes + tc.failAt
			}
			bad := n.src.set(tc.files...)
			_, err := n.reconcile(true)
			if err == nil {
				t.Fatal("bad revision applied without error")
			}
			st := n.ctl.Status()
			if st.Applied.ID != good {
				t.Errorf("applied revision %s, want the last good %s", st.Applied.ID, good)
			}
			if st.LastError == nil || st.LastError.Revision != bad.ID || st.LastError.Stage != tc.stage ||
				!strings.Contains(st.LastError.Message, tc.wantInMsg) {
				t.Errorf("last error %+v, want stage %s, revision %s, message with %q", st.LastError, tc.stage, bad.ID, tc.wantInMsg)
			}
			if !strings.Contains(err.Error(), bad.ID[:12]) {
				t.Errorf("error %q does not name the revision", err)
			}
			if st.Healthy || st.LastReconcile.Result != "error" {
				t.Errorf("status healthy=%v result=%s after a refused revision", st.Healthy, st.LastReconcile.Result)
			}
			if got := metricValue(t, n.ctl.Metrics(), "hakeeper_reconcile_errors_total") - errsBefore; got != 1 {
				t.Errorf("reconcile errors counted %v, want 1", got)
			}
			for _, id := range n.src.appliedIDs() {
				if id == bad.ID {
					t.Error("source told the bad revision was applied")
				}
			}
			n.clock.Advance(5 * time.Second)
			if !n.hasVIP("192.0.2.100") || n.hasVIP("192.0.2.101") {
				t.Error("VIPs changed by a refused revision")
			}
			if got := n.weights(); fmt.Sprint(got) != fmt.Sprint(weights) {
				t.Errorf("IPVS changed by a refused revision: %v, was %v", got, weights)
			}
			// The fix is applied.
			n.ipvs.FailAt = 0
			n.src.set("cluster.yaml", cluster("192.0.2.100/24", "1s", 7))
			if res, err := n.reconcile(true); err != nil || !res.Applied {
				t.Fatalf("fix: %+v, %v", res, err)
			}
			if st := n.ctl.Status(); !st.Healthy || st.LastError == nil {
				t.Errorf("after the fix: healthy=%v, last error kept=%v; want healthy with the error still shown", st.Healthy, st.LastError != nil)
			}
		})
	}
}

func TestDriftRepair(t *testing.T) {
	n := start(t)
	// A VIP deleted by hand on the master comes back.
	n.addrs.Set("eth0")
	res, err := n.reconcile(false)
	if err != nil {
		t.Fatal(err)
	}
	if !n.hasVIP("192.0.2.100") || res.Repaired != 1 {
		t.Errorf("VIP repair: %+v, VIP present %v", res, n.hasVIP("192.0.2.100"))
	}
	// A destination weight changed by hand is put back with one write.
	svc := n.ipvs.Table()[0].Service
	dst := n.ipvs.Table()[0].Destinations[0]
	dst.Weight = 42
	if err := n.ipvs.UpdateDestination(svc, dst); err != nil {
		t.Fatal(err)
	}
	before := n.ipvs.Writes
	res, err = n.reconcile(false)
	if err != nil {
		t.Fatal(err)
	}
	if res.IPVSOps != 1 || n.ipvs.Writes-before != 1 || n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 1 {
		t.Errorf("IPVS repair: %+v, weights %v", res, n.weights())
	}
	drift := func(kind string) float64 {
		return metricValue(t, n.ctl.Metrics(), "hakeeper_drift_repairs_total", "kind", kind)
	}
	if drift("vip") != 1 || drift("ipvs") != 1 {
		t.Errorf("drift counted vip=%v ipvs=%v, want 1 and 1", drift("vip"), drift("ipvs"))
	}
	if st := n.ctl.Status(); st.Drift.VIPRepairs != 1 || st.Drift.IPVSRepairs != 1 {
		t.Errorf("status drift %+v", st.Drift)
	}
}

func TestHealthChangeIsNotDrift(t *testing.T) {
	n := start(t)
	n.checker.setDown("198.51.100.2:80", true)
	res, err := n.reconcile(false)
	if err != nil {
		t.Fatal(err)
	}
	if res.IPVSOps != 1 || res.Repaired != 0 {
		t.Errorf("server down: %+v, want one IPVS write and no drift", res)
	}
	if _, ok := n.weights()["tcp/192.0.2.100:80 198.51.100.2:80"]; ok {
		t.Error("failed server still in IPVS")
	}
	st := n.ctl.Status()
	rs := st.Services[0].RealServers[1]
	if rs.Health != "down" || rs.InIPVS {
		t.Errorf("status of the failed server %+v", rs)
	}
	n.checker.setDown("198.51.100.2:80", false)
	if res, _ := n.reconcile(false); res.IPVSOps != 1 {
		t.Errorf("server back: %+v", res)
	}
}

func TestStartFromLastGoodWithoutSource(t *testing.T) {
	n := start(t)
	good := n.ctl.Status().Applied.ID
	stateDir := n.stateDir

	// A restart while the source is unreachable.
	src := &memSource{}
	src.fail(errors.New("dial tcp: network is unreachable"))
	m := newNode(t, src, stateDir)
	res, err := m.ctl.Start(context.Background())
	if err != nil {
		t.Fatalf("start without source: %v", err)
	}
	if !res.FromLastGood || !res.Applied || res.Revision != good {
		t.Errorf("start: %+v, want the last good revision %s", res, good)
	}
	m.clock.Advance(4 * time.Second)
	if !m.hasVIP("192.0.2.100") {
		t.Error("VIP not served from the last good revision")
	}
	if ids := src.appliedIDs(); len(ids) == 0 || ids[0] != good {
		t.Errorf("source told applied %v, want %s first (for force-push checks)", ids, good)
	}
	st := m.ctl.Status()
	if st.LastError == nil || st.LastError.Stage != "fetch" || !strings.Contains(st.LastError.Message, "unreachable") {
		t.Errorf("status last error %+v, want the fetch failure", st.LastError)
	}

	// Without a record there is nothing to start from.
	empty := newNode(t, src, t.TempDir())
	if _, err := empty.ctl.Start(context.Background()); err == nil {
		t.Error("start with neither source nor record succeeded")
	}
}

func TestShutdownLeavesIPVS(t *testing.T) {
	n := start(t)
	if err := n.ctl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.hasVIP("192.0.2.100") {
		t.Error("VIP kept after shutdown")
	}
	if len(n.ipvs.Table()) != 1 {
		t.Error("IPVS services removed by default")
	}
	if !n.checker.closed {
		t.Error("checker not stopped")
	}
}

// metricValue gathers the registry and returns the value of the series
// name with the given label pairs (0 when absent).
func metricValue(t *testing.T, m *controller.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue()
			case mt.Gauge != nil:
				return mt.Gauge.GetValue()
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

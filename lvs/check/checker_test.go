package check_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/check/checktest"
	"github.com/hakeeper/hakeeper/model"
)

const waitLimit = 5 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// script is a fake backend fleet: each address passes or fails on demand,
// optionally failing the first failFirst tries of every round.
type script struct {
	mu        sync.Mutex
	up        map[netip.Addr]bool
	calls     map[netip.Addr]int
	built     map[netip.Addr]int // probes built per address
	failFirst int
	round     map[netip.Addr]int
	block     chan struct{} // when set, probes wait on it (or ctx)
	cancelled int           // probes that gave up because ctx ended
}

func newScript() *script {
	return &script{up: map[netip.Addr]bool{}, calls: map[netip.Addr]int{}, built: map[netip.Addr]int{}, round: map[netip.Addr]int{}}
}

func (s *script) set(addr netip.Addr, up bool) {
	s.mu.Lock()
	s.up[addr] = up
	s.mu.Unlock()
}

func (s *script) newProbe(spec *model.CheckSpec) (check.Probe, error) {
	if spec.Type == "broken" {
		return nil, errors.New("cannot build this check")
	}
	addr := netip.MustParseAddr(spec.HTTP.Host) // the test puts the server address here to count builds
	s.mu.Lock()
	s.built[addr]++
	s.mu.Unlock()
	return func(ctx context.Context, t check.Target) check.Result {
		s.mu.Lock()
		s.calls[t.Address]++
		s.round[t.Address]++
		n, up, block := s.round[t.Address], s.up[t.Address], s.block
		s.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-ctx.Done():
				s.mu.Lock()
				s.cancelled++
				s.mu.Unlock()
				return check.Result{Err: ctx.Err()}
			}
		}
		if up && n > s.failFirst {
			return check.Result{Latency: time.Millisecond}
		}
		return check.Result{Err: errors.New("backend says no"), Latency: time.Millisecond}
	}, nil
}

func (s *script) newRound() {
	s.mu.Lock()
	clear(s.round)
	s.mu.Unlock()
}

func (s *script) count(m map[netip.Addr]int, addr netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[addr]
}

func spec(addr string, mod func(*model.CheckSpec)) *model.CheckSpec {
	s := &model.CheckSpec{Type: "scripted", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, HTTP: &model.HTTPCheck{Host: addr}}
	if mod != nil {
		mod(s)
	}
	return s
}

func server(addr string, mod func(*model.CheckSpec)) model.RealServerSpec {
	return model.RealServerSpec{Address: netip.MustParseAddr(addr), Port: 80, Weight: 1, Check: spec(addr, mod)}
}

func service(startDown bool, servers ...model.RealServerSpec) model.VirtualService {
	return model.VirtualService{Name: "web", Family: model.IPv4, Protocol: model.TCP,
		Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Quorum: 1, StartDown: startDown, RealServers: servers}
}

type harness struct {
	t      *testing.T
	clock  *checktest.Clock
	script *script
	c      *check.Checker
}

func newHarness(t *testing.T, workers int) *harness {
	h := &harness{t: t, clock: checktest.NewClock(time.Unix(1_700_000_000, 0)), script: newScript()}
	h.c = check.New(check.Options{Workers: workers, Clock: h.clock, NewProbe: h.script.newProbe, Logger: quiet})
	t.Cleanup(h.c.Close)
	return h
}

// round advances one interval and waits until every checked server has
// run and re-armed its timer.
func (h *harness) round(interval time.Duration, servers int) {
	h.t.Helper()
	h.script.newRound()
	h.clock.Advance(interval)
	if !h.clock.WaitPending(servers, waitLimit) {
		h.t.Fatalf("checks did not re-arm: %d timers pending, want %d", len(h.clock.Pending()), servers)
	}
}

func (h *harness) cancelledProbes() int {
	h.script.mu.Lock()
	defer h.script.mu.Unlock()
	return h.script.cancelled
}

func (h *harness) healthy(svc model.VirtualService, i int) bool {
	return h.c.Healthy(check.KeyOf(&svc, &svc.RealServers[i]))
}

// changed reports whether a change signal is waiting, consuming it.
func (h *harness) changed() bool {
	select {
	case <-h.c.Changes():
		return true
	default:
		return false
	}
}

func (h *harness) status(addr string) check.ServerStatus {
	h.t.Helper()
	for _, st := range h.c.Status() {
		if st.Key.Address == netip.MustParseAddr(addr) {
			return st
		}
	}
	h.t.Fatalf("no status for %s", addr)
	return check.ServerStatus{}
}

func TestCheckerRiseFall(t *testing.T) {
	h := newHarness(t, 4)
	a := netip.MustParseAddr("198.51.100.1")
	h.script.set(a, true)
	svc := service(false, server("198.51.100.1", func(s *model.CheckSpec) { s.Rise, s.Fall = 2, 3 }))
	h.c.Update([]model.VirtualService{svc})

	steps := []struct {
		up          bool
		wantHealthy bool
		wantChange  bool
	}{
		{up: true, wantHealthy: true},
		{up: false, wantHealthy: true},
		{up: false, wantHealthy: true},
		{up: false, wantHealthy: false, wantChange: true}, // third failure: fall
		{up: true, wantHealthy: false},
		{up: false, wantHealthy: false}, // a failure resets the rise count
		{up: true, wantHealthy: false},
		{up: true, wantHealthy: true, wantChange: true}, // second pass in a row: rise
	}
	for i, st := range steps {
		h.script.set(a, st.up)
		h.round(time.Second, 1)
		if got := h.healthy(svc, 0); got != st.wantHealthy {
			t.Fatalf("step %d: healthy=%v, want %v", i, got, st.wantHealthy)
		}
		if got := h.changed(); got != st.wantChange {
			t.Fatalf("step %d: change signalled=%v, want %v", i, got, st.wantChange)
		}
	}
	if got := h.script.count(h.script.calls, a); got != len(steps) {
		t.Errorf("%d checks ran over %d intervals", got, len(steps))
	}
	st := h.status("198.51.100.1")
	if !st.Healthy || st.Passes != 2 || st.Failures != 0 || st.LastError != "" || st.LastLatency != time.Millisecond || st.Check != "scripted" || st.Service != "web" {
		t.Errorf("status %+v", st)
	}
	if !st.LastChange.Equal(h.clock.Now()) {
		t.Errorf("last change %v, want the last rise at %v", st.LastChange, h.clock.Now())
	}
}

func TestCheckerRetries(t *testing.T) {
	h := newHarness(t, 4)
	a := netip.MustParseAddr("198.51.100.1")
	h.script.set(a, true)
	h.script.failFirst = 2 // each round, two tries fail before one passes
	svc := service(false, server("198.51.100.1", func(s *model.CheckSpec) { s.Retries = 2 }))
	h.c.Update([]model.VirtualService{svc})

	// To the first check's time exactly: a whole interval from now would
	// reach the check's retry deadline whenever its random first slot is
	// now's, leaving no time for retries.
	h.round(h.clock.Pending()[0], 1)
	if !h.healthy(svc, 0) || h.changed() {
		t.Fatal("a pass on the last retry took the server down")
	}
	if st := h.status("198.51.100.1"); st.LastTries != 3 || st.LastError != "" {
		t.Errorf("status %+v, want 3 tries and a pass", st)
	}
	h.script.set(a, false)
	h.round(time.Second, 1)
	if h.healthy(svc, 0) || !h.changed() {
		t.Fatal("a failure after all retries did not take the server down (fall 1)")
	}
	if got := h.script.count(h.script.calls, a); got != 6 {
		t.Errorf("%d tries over two rounds with 2 retries, want 6", got)
	}
	if st := h.status("198.51.100.1"); st.LastError != "backend says no" || st.Failures != 1 {
		t.Errorf("status %+v, want one failure with the probe's error", st)
	}
}

func TestCheckerStartDown(t *testing.T) {
	h := newHarness(t, 4)
	h.script.set(netip.MustParseAddr("198.51.100.1"), true)
	h.script.set(netip.MustParseAddr("198.51.100.2"), true)
	unchecked := model.RealServerSpec{Address: netip.MustParseAddr("198.51.100.3"), Port: 80, Weight: 1}
	down := service(true, server("198.51.100.1", nil), unchecked)
	up := service(false, server("198.51.100.2", nil))
	up.Port = 443
	h.c.Update([]model.VirtualService{down, up})

	if h.healthy(down, 0) {
		t.Error("start-down server is up before its first check")
	}
	if !h.healthy(down, 1) {
		t.Error("an unchecked server is not up")
	}
	if !h.healthy(up, 0) {
		t.Error("server without start-down is not up before its first check")
	}
	if n := len(h.clock.Pending()); n != 2 {
		t.Fatalf("%d timers armed, want 2 (the unchecked server has none)", n)
	}
	h.round(time.Second, 2)
	if !h.healthy(down, 0) || !h.changed() {
		t.Error("start-down server did not come up on its first pass")
	}
	if st := h.status("198.51.100.3"); !st.Healthy || st.Check != "" {
		t.Errorf("unchecked server status %+v", st)
	}
}

func TestCheckerBrokenCheckFails(t *testing.T) {
	h := newHarness(t, 4)
	svc := service(false, server("198.51.100.1", func(s *model.CheckSpec) { s.Type = "broken" }))
	h.c.Update([]model.VirtualService{svc})
	h.round(time.Second, 1)
	if h.healthy(svc, 0) {
		t.Error("a server whose check cannot be built stays up")
	}
	if st := h.status("198.51.100.1"); !strings.Contains(st.LastError, "cannot build") {
		t.Errorf("last error %q, want the build error", st.LastError)
	}
}

func TestCheckerReloadKeepsState(t *testing.T) {
	h := newHarness(t, 4)
	a, b, c := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")
	for _, x := range []netip.Addr{a, b, c} {
		h.script.set(x, true)
	}
	build := func(name string, bTimeout time.Duration, withA bool) []model.VirtualService {
		var servers []model.RealServerSpec
		if withA {
			servers = append(servers, server("198.51.100.1", nil))
		}
		servers = append(servers,
			server("198.51.100.2", func(s *model.CheckSpec) { s.Timeout = bTimeout }),
			server("198.51.100.3", func(s *model.CheckSpec) { s.Rise = 3 }))
		svc := service(true, servers...) // start-down: a restart would show as down
		svc.Name = name
		return []model.VirtualService{svc}
	}
	h.c.Update(build("web", time.Second, true))
	h.round(time.Second, 3) // a, b up (rise 1); c needs 3 passes
	h.round(time.Second, 3)
	h.changed()
	before := h.c.Status()
	pending := h.clock.Pending()

	t.Run("identical description: nothing restarts", func(t *testing.T) {
		h.c.Update(build("web-renamed", time.Second, true)) // fresh structs, equal content; name is not identity
		after := h.c.Status()
		for i := range before {
			b, a := before[i], after[i]
			if a.Healthy != b.Healthy || a.Passes != b.Passes || !a.LastChange.Equal(b.LastChange) || !a.LastCheck.Equal(b.LastCheck) {
				t.Errorf("%s changed on reload: %+v → %+v", b.Server, b, a)
			}
			if a.Service != "web-renamed" {
				t.Errorf("%s: service name %q not updated", a.Server, a.Service)
			}
		}
		if got := h.clock.Pending(); len(got) != len(pending) || got[0] != pending[0] || got[2] != pending[2] {
			t.Errorf("schedule changed on reload: %v → %v", pending, got)
		}
		for _, x := range []netip.Addr{a, b, c} {
			if n := h.script.count(h.script.built, x); n != 1 {
				t.Errorf("%s: probe built %d times, want once", x, n)
			}
		}
		if h.changed() {
			t.Error("reload signalled a health change")
		}
	})

	t.Run("one check changed: only that server restarts, without flapping", func(t *testing.T) {
		h.c.Update(build("web", 2*time.Second, true))
		if n := h.script.count(h.script.built, b); n != 2 {
			t.Errorf("changed server's probe built %d times, want twice", n)
		}
		if n := h.script.count(h.script.built, a) + h.script.count(h.script.built, c); n != 2 {
			t.Errorf("unchanged servers rebuilt: %d builds, want 2", n)
		}
		st := h.status("198.51.100.2")
		if !st.Healthy || st.Passes != 0 {
			t.Errorf("restarted server %+v: want still healthy with fresh counters", st)
		}
		if st := h.status("198.51.100.3"); st.Passes != 2 {
			t.Errorf("unchanged server lost its rise progress: %+v", st)
		}
		h.round(time.Second, 3)
		if after := h.status("198.51.100.2"); !after.Healthy || !after.LastChange.Equal(st.LastChange) || after.Passes != 1 {
			t.Errorf("restarted server flapped: %+v → %+v", st, after)
		}
		if st := h.status("198.51.100.3"); !st.Healthy {
			t.Errorf("server with rise 3 not up after its third pass across the reload: %+v", st)
		}
	})

	t.Run("removed server stops", func(t *testing.T) {
		h.changed()
		callsA := h.script.count(h.script.calls, a)
		h.c.Update(build("web", 2*time.Second, false))
		if n := len(h.clock.Pending()); n != 2 {
			t.Fatalf("%d timers armed after removing a server, want 2", n)
		}
		h.round(time.Second, 2)
		if n := h.script.count(h.script.calls, a); n != callsA {
			t.Errorf("removed server checked again (%d → %d calls)", callsA, n)
		}
		for _, st := range h.c.Status() {
			if st.Key.Address == a {
				t.Errorf("removed server still in status: %+v", st)
			}
		}
		svc := service(true, server("198.51.100.1", nil))
		if h.healthy(svc, 0) {
			t.Error("removed server reported healthy")
		}
	})
}

func TestCheckerRemovedWhileRunning(t *testing.T) {
	h := newHarness(t, 4)
	a := netip.MustParseAddr("198.51.100.1")
	h.script.set(a, true)
	h.script.block = make(chan struct{})
	defer close(h.script.block)
	svc := service(false, server("198.51.100.1", nil))
	h.c.Update([]model.VirtualService{svc})
	h.clock.Advance(time.Second)
	deadline := time.Now().Add(waitLimit)
	for h.script.count(h.script.calls, a) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("check never started")
		}
		time.Sleep(time.Millisecond)
	}
	h.c.Update(nil) // cancels the blocked probe
	for h.cancelledProbes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("removing the server did not cancel its running check")
		}
		time.Sleep(time.Millisecond)
	}
	h.c.Close() // waits for the abandoned run to finish
	if len(h.c.Status()) != 0 || len(h.clock.Pending()) != 0 || h.changed() {
		t.Errorf("abandoned check left state behind: status %v, timers %v", h.c.Status(), h.clock.Pending())
	}
}

func TestCheckerJitter(t *testing.T) {
	h := newHarness(t, 4)
	var servers []model.RealServerSpec
	for i := range 200 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()
		servers = append(servers, server(addr, func(s *model.CheckSpec) { s.Interval = 10 * time.Second }))
	}
	h.c.Update([]model.VirtualService{service(false, servers...)})
	p := h.clock.Pending()
	if len(p) != 200 {
		t.Fatalf("%d timers, want 200", len(p))
	}
	distinct := map[time.Duration]bool{}
	for _, d := range p {
		if d < 0 || d >= 10*time.Second {
			t.Fatalf("first check in %v, want within the 10s interval", d)
		}
		distinct[d] = true
	}
	// With uniform offsets, the earliest lands in the first second and the
	// latest in the last one with overwhelming probability (1 - 2·0.9^200);
	// over the interval's thousand 10ms slots about 180 of 200 are distinct.
	if p[0] >= time.Second || p[len(p)-1] < 9*time.Second || len(distinct) < 150 {
		t.Errorf("first checks not spread: earliest %v, latest %v, %d distinct", p[0], p[len(p)-1], len(distinct))
	}
}

// TestCheckerBoundedParallelism fires 20 HTTP checks at once through 4
// workers; the backends count requests in flight.
func TestCheckerBoundedParallelism(t *testing.T) {
	const workers, backends = 4, 20
	var inflight, peak, served atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		inflight.Add(-1)
		served.Add(1)
	})
	var servers []model.RealServerSpec
	for range backends {
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
		servers = append(servers, model.RealServerSpec{Address: ap.Addr(), Port: ap.Port(), Weight: 1,
			Check: &model.CheckSpec{Type: "http", Interval: time.Second, Timeout: 5 * time.Second, HTTP: &model.HTTPCheck{}}})
	}
	clock := checktest.NewClock(time.Unix(1_700_000_000, 0))
	c := check.New(check.Options{Workers: workers, Clock: clock, Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{service(true, servers...)})
	clock.Advance(time.Second) // every first check is due at once
	if !clock.WaitPending(backends, 20*time.Second) {
		t.Fatalf("checks did not finish: %d served", served.Load())
	}
	if served.Load() != backends {
		t.Errorf("%d requests served, want %d", served.Load(), backends)
	}
	if p := peak.Load(); p > workers || p < 2 {
		t.Errorf("peak %d requests in flight, want between 2 and the %d-worker limit", p, workers)
	}
	for _, st := range c.Status() {
		if !st.Healthy {
			t.Errorf("%s not healthy: %s", st.Server, st.LastError)
		}
	}
}

// TestCheckerRealTCP runs the checker on the real clock against a real
// listener that goes away and comes back.
func TestCheckerRealTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go acceptAndClose(l)
	ap := netip.MustParseAddrPort(l.Addr().String())
	rs := model.RealServerSpec{Address: ap.Addr(), Port: ap.Port(), Weight: 1,
		Check: &model.CheckSpec{Type: "tcp", Interval: 50 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 2}}
	svc := service(true, rs)
	c := check.New(check.Options{Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{svc})
	key := check.KeyOf(&svc, &rs)

	waitFor := func(want bool) {
		t.Helper()
		deadline := time.After(waitLimit)
		for c.Healthy(key) != want {
			select {
			case <-c.Changes():
			case <-deadline:
				t.Fatalf("server never became healthy=%v: %+v", want, c.Status())
			}
		}
	}
	waitFor(true)
	l.Close()
	waitFor(false)
	if st := c.Status(); len(st) != 1 || !strings.Contains(st[0].LastError, "refused") || st[0].Failures < 2 {
		t.Errorf("status %+v, want fall after 2 refused connections", st)
	}
	l2, err := net.Listen("tcp", ap.String())
	if err != nil {
		t.Skipf("could not listen on %v again: %v", ap, err)
	}
	defer l2.Close()
	go acceptAndClose(l2)
	waitFor(true)
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

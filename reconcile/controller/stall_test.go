package controller_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/source"
)

// stallingSource is a memSource whose Latest can be made to hang, like a
// Git remote that accepts the connection and never answers.
type stallingSource struct {
	*memSource
	mu        sync.Mutex
	stall     bool
	deafToCtx chan struct{} // when set, Latest ignores its context until closed
	entered   chan struct{}
	returned  chan struct{} // a deaf Latest has answered
}

func newStallingSource() *stallingSource {
	s := &stallingSource{memSource: &memSource{}, entered: make(chan struct{}, 16), returned: make(chan struct{}, 16)}
	s.set("cluster.yaml", defaultCluster())
	return s
}

func (s *stallingSource) setStall(stall bool, deaf chan struct{}) {
	s.mu.Lock()
	s.stall, s.deafToCtx = stall, deaf
	s.mu.Unlock()
}

func (s *stallingSource) Latest(ctx context.Context) (*source.Revision, error) {
	s.mu.Lock()
	stall, deaf := s.stall, s.deafToCtx
	s.mu.Unlock()
	if !stall {
		return s.memSource.Latest(ctx)
	}
	s.entered <- struct{}{}
	if deaf != nil {
		<-deaf
		defer func() { s.returned <- struct{}{} }()
		return s.memSource.Latest(ctx)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func stalledNode(t *testing.T, fetchTimeout time.Duration) (*node, *stallingSource) {
	src := newStallingSource()
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) { c.FetchTimeout = fetchTimeout })
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(4 * time.Second)
	if !n.hasVIP("192.0.2.100") {
		t.Fatal("lb1 did not become master")
	}
	return n, src
}

// within fails the test when f does not return in d (instead of hanging).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// A stalled fetch gives up after FetchTimeout, so the loop goes on
// repairing drift and following health.
func TestStalledFetchTimesOut(t *testing.T) {
	n, src := stalledNode(t, 50*time.Millisecond)
	src.setStall(true, nil)
	var err error
	within(t, 10*time.Second, "a pass with a stalled fetch", func() { _, err = n.ctl.Reconcile(context.Background(), "watch", true) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled fetch: %v, want the deadline exceeded", err)
	}
	if st := n.ctl.Status(); st.LastError == nil || st.LastError.Stage != "fetch" || st.Healthy {
		t.Errorf("status after a stalled fetch: %+v healthy=%v", st.LastError, st.Healthy)
	}
	n.checker.setDown("198.51.100.2:80", true)
	if res, err := n.reconcile(false); err != nil || res.IPVSOps != 1 {
		t.Errorf("health pass after the stalled fetch: %+v, %v", res, err)
	}
}

// Shutdown cancels a pass stuck in the source instead of waiting for it
// forever; the VIPs are released and later passes do nothing.
func TestShutdownCancelsAStuckPass(t *testing.T) {
	n, src := stalledNode(t, time.Hour)
	src.setStall(true, nil)
	passErr := make(chan error, 1)
	go func() { _, err := n.ctl.Reconcile(context.Background(), "watch", true); passErr <- err }()
	<-src.entered
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	within(t, 10*time.Second, "Shutdown during a stuck pass", func() { err = n.ctl.Shutdown(ctx) })
	if err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if perr := <-passErr; !errors.Is(perr, context.Canceled) {
		t.Errorf("the stuck pass ended with %v, want cancelled", perr)
	}
	if n.hasVIP("192.0.2.100") {
		t.Error("VIP kept after shutdown")
	}
	if _, err := n.ctl.Reconcile(context.Background(), "interval", false); err == nil || !strings.Contains(err.Error(), "shut down") {
		t.Errorf("pass after shutdown: %v", err)
	}
}

// A source that ignores cancellation cannot keep the node from stopping:
// the pass stops waiting for it when Shutdown cancels it, Shutdown
// completes and releases the VIPs, and the source's late answer applies
// nothing.
func TestShutdownPastADeafSource(t *testing.T) {
	n, src := stalledNode(t, time.Hour)
	deaf := make(chan struct{})
	src.setStall(true, deaf)
	passErr := make(chan error, 1)
	go func() { _, err := n.ctl.Reconcile(context.Background(), "watch", true); passErr <- err }()
	<-src.entered
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	within(t, 10*time.Second, "Shutdown during a pass deaf to cancellation", func() { err = n.ctl.Shutdown(ctx) })
	if err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if n.hasVIP("192.0.2.100") {
		t.Error("VIP kept after shutdown")
	}
	if perr := <-passErr; !errors.Is(perr, context.Canceled) {
		t.Errorf("the pass ended with %v, want cancelled", perr)
	}
	src.set("cluster.yaml", cluster("192.0.2.100/24", "1s", 9))
	writes := n.ipvs.Writes
	close(deaf)
	<-src.returned // the late answer exists before it is looked for
	if _, err := n.ctl.Reconcile(context.Background(), "watch", true); err == nil {
		t.Error("a pass after shutdown ran")
	}
	if n.ipvs.Writes != writes {
		t.Errorf("the source's late answer was applied after shutdown (%d IPVS writes)", n.ipvs.Writes-writes)
	}
}

// FetchTimeout holds for a source deaf to its context too (a read hung in
// the kernel): the pass gives up, the next one waits for the same call
// instead of piling another on it, and once the source answers the loop
// goes on with a fresh fetch.
func TestDeafFetchTimesOut(t *testing.T) {
	n, src := stalledNode(t, 50*time.Millisecond)
	deaf := make(chan struct{})
	src.setStall(true, deaf)
	for i := range 2 {
		var err error
		within(t, 10*time.Second, "a pass with a deaf source", func() { _, err = n.ctl.Reconcile(context.Background(), "watch", true) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("pass %d: %v, want the deadline exceeded", i+1, err)
		}
	}
	if calls := len(src.entered); calls != 1 {
		t.Errorf("%d calls of the deaf source, want 1: a pass waits for the one in progress", calls)
	}
	if st := n.ctl.Status(); st.LastError == nil || st.LastError.Stage != "fetch" {
		t.Errorf("status after a deaf fetch: %+v", st.LastError)
	}
	src.setStall(false, nil)
	src.set("cluster.yaml", cluster("192.0.2.100/24", "1s", 9))
	close(deaf)
	waitFor(t, "the revision after the source answers", func() bool {
		_, err := n.ctl.Reconcile(context.Background(), "watch", true)
		return err == nil && n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] == 9
	})
}

package vrrpd_test

import (
	"sync/atomic"
	"testing"
	"time"
)

// OnTransition is called once per state change (init → backup at start,
// backup → master when the master-down timer expires, master → backup
// on a higher-priority advert), as the status counts them: the
// controller switches the IPVS sync daemon on it.
func TestOnTransitionFollowsEveryChange(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	var calls atomic.Int64
	a.onTransition = func() { calls.Add(1) }
	a.start(instance(51, 100, "192.0.2.100/24"))
	if got := calls.Load(); got != 1 {
		t.Fatalf("after start: %d calls, want 1 (init → backup)", got)
	}
	l.advance(4 * time.Second)
	if got := calls.Load(); got != 2 || a.e.Status()[0].State != "master" {
		t.Fatalf("after the master-down interval: %d calls, state %s; want 2 and master", got, a.e.Status()[0].State)
	}
	b := l.node(2)
	b.start(instance(51, 200, "192.0.2.100/24"))
	l.advance(5 * time.Second) // b preempts; a goes back to backup
	if got, st := calls.Load(), a.e.Status()[0]; got != 3 || st.State != "backup" || uint64(got) != st.Counters.Transitions {
		t.Fatalf("after preemption: %d calls, state %s, %d transitions counted; want 3, backup, 3", got, st.State, st.Counters.Transitions)
	}
}

package check

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestSlotClock: timers due in the same millisecond fire one after
// another, then the after hook once; a stopped timer does not fire; a
// timer due later fires from its own wake-up, with its own after.
func TestSlotClock(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
		aRan   time.Time // when a was called
	)
	event := func(name string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, name)
			if name == "a" {
				aRan = time.Now()
			}
		}
	}
	done := make(chan struct{}, 2)
	// A timer's bucket is its due time, read from the clock's own
	// time.Now(), in milliseconds: a and b share one only when armed
	// within the same millisecond. Arm them between two readings that
	// round alike, on a fresh clock whenever a millisecond boundary fell
	// between (the abandoned clock's timers are stopped and never fire).
	const ab, c = 30 * time.Millisecond, 200 * time.Millisecond
	bucket := func(now time.Time, d time.Duration) int64 {
		return now.Add(d).Add(time.Millisecond / 2).UnixMilli()
	}
	var (
		cDue    time.Time // the earliest c's bucket can be due
		stopped Timer
	)
	for try := 0; ; try++ {
		if try == 100 {
			t.Fatal("could not arm two timers within one millisecond in 100 tries")
		}
		k := newSlotClock()
		k.after = func() { event("after")(); done <- struct{}{} }
		before := time.Now()
		timers := []Timer{k.AfterFunc(ab, event("a")), k.AfterFunc(ab, event("b"))}
		stopped = k.AfterFunc(ab, event("stopped"))
		timers = append(timers, stopped, k.AfterFunc(c, event("c")))
		after := time.Now()
		if bucket(before, ab) == bucket(after, ab) {
			cDue = time.UnixMilli(bucket(before, c))
			break
		}
		for _, tm := range timers {
			tm.Stop()
		}
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true once, then false")
	}
	wait := func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("timers did not fire: events %v", events)
		}
	}
	wait()
	// The after hook runs once its batch's timers have: the first batch
	// is complete here. c in it means one wake-up fired both buckets.
	mu.Lock()
	merged := slices.Contains(events, "c")
	mu.Unlock()
	if !merged {
		wait()
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"a", "b", "after", "c", "after"}; slices.Equal(events, want) {
		return
	}
	// A wake-up delayed (by a loaded machine) past c's bucket rightly
	// fires every bucket due by then together, but never before c is due.
	if merged := []string{"a", "b", "c", "after"}; slices.Equal(events, merged) && !aRan.Before(cDue) {
		return
	}
	t.Errorf("events %v, want [a b after c after], or [a b c after] from one wake-up once c was due (a ran at %v, c due from %v)",
		events, aRan.Format("15:04:05.000"), cDue.Format("15:04:05.000"))
}

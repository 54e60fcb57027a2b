package check

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestSlotClock: timers due in the same millisecond fire one after
// another, then the after hook once; a stopped timer does not fire.
func TestSlotClock(t *testing.T) {
	k := newSlotClock()
	var mu sync.Mutex
	var events []string
	done := make(chan struct{}, 2)
	event := func(name string) func() {
		return func() {
			mu.Lock()
			events = append(events, name)
			mu.Unlock()
		}
	}
	k.after = func() { event("after")(); done <- struct{}{} }
	k.AfterFunc(30*time.Millisecond, event("a"))
	k.AfterFunc(30*time.Millisecond, event("b"))
	stopped := k.AfterFunc(30*time.Millisecond, event("stopped"))
	k.AfterFunc(60*time.Millisecond, event("c"))
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true once, then false")
	}
	for range 2 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("timers did not fire")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"a", "b", "after", "c", "after"}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

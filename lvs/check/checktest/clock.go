// Package checktest holds test doubles for package check: a manually
// stepped Clock, so checker schedules can be tested without sleeping.
package checktest

import (
	"slices"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check"
)

// Clock is a fake check.Clock. Time stands still until Advance; timers
// that come due fire in their own goroutines, as with time.AfterFunc.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

var _ check.Clock = (*Clock)(nil)

type timer struct {
	c    *Clock
	when time.Time
	f    func()
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f once the clock has been advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) check.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop disarms the timer.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d and fires every timer now due,
// earliest first. It does not wait for the callbacks to finish.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*timer
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
		if t.when.After(c.now) {
			return false
		}
		due = append(due, t)
		return true
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *timer) int { return a.when.Compare(b.when) })
	for _, t := range due {
		go t.f()
	}
}

// Pending returns how long until each armed timer fires, shortest first.
func (c *Clock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.timers))
	for i, t := range c.timers {
		out[i] = t.when.Sub(c.now)
	}
	slices.Sort(out)
	return out
}

// WaitPending waits (in real time, up to limit) until n timers are armed:
// after Advance, that is when the fired callbacks have re-armed. It
// reports whether that happened.
func (c *Clock) WaitPending(n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		c.mu.Lock()
		k := len(c.timers)
		c.mu.Unlock()
		if k == n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

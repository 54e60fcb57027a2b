// Package vrrptest holds in-memory implementations of the vrrpd kernel
// interfaces (clock, network segment, addresses, announcer, links,
// runner) so the engine can be driven step by step and observed from
// outside in tests. Everything here is safe for concurrent use.
package vrrptest

import (
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/vrrpd"
)

var (
	_ vrrpd.Clock = (*Clock)(nil)
	_ vrrpd.Timer = (*clockTimer)(nil)
)

// Clock is a manual clock. Unlike time.AfterFunc, timer callbacks run
// synchronously inside Advance, in deadline order (ties in the order the
// timers were armed), with Now equal to the deadline; so a test knows
// every effect of a step when Advance returns.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*clockTimer]struct{}
	settle func()
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*clockTimer]struct{}{}}
}

// SetSettle installs f to run after every fired timer and at the end of
// Advance; tests use it to let packets in flight be handled before the
// next timer fires, as they would be on a real network.
func (c *Clock) SetSettle(f func()) {
	c.mu.Lock()
	c.settle = f
	c.mu.Unlock()
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer calling f once Advance reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) vrrpd.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &clockTimer{c: c, f: f, when: c.now.Add(d), seq: c.seq}
	c.timers[t] = struct{}{}
	return t
}

// Advance moves the clock forward by d, firing due timers.
func (c *Clock) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// AdvanceTo moves the clock forward to target, firing due timers.
func (c *Clock) AdvanceTo(target time.Time) {
	for {
		c.mu.Lock()
		var next *clockTimer
		for t := range c.timers {
			if t.when.After(target) {
				continue
			}
			if next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.seq < next.seq {
				next = t
			}
		}
		to := target
		if next != nil {
			delete(c.timers, next)
			to = next.when
		}
		if to.After(c.now) {
			c.now = to
		}
		settle := c.settle
		c.mu.Unlock()
		if next != nil {
			next.f()
		}
		if settle != nil {
			settle()
		}
		if next == nil {
			return
		}
	}
}

type clockTimer struct {
	c    *Clock
	f    func()
	when time.Time
	seq  uint64
}

func (t *clockTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, active := t.c.timers[t]
	delete(t.c.timers, t)
	return active
}

package check

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Clock is the Checker's only source of scheduling time, so tests can
// step it instead of sleeping. Probe latencies and timeouts use real time:
// they measure the network, not the schedule.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d from a goroutine of the clock's, like
	// time.AfterFunc. f must not block: timers due together may be called
	// one after another from the same goroutine.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable timer from a Clock.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// slotClock is the real clock the Checker uses by default. Timers due in
// the same millisecond share one bucket, and the clock holds a single
// runtime timer for the earliest bucket, so a thousand checks due in a
// hundred slots cost a hundred wake-ups and goroutines, not a thousand.
type slotClock struct {
	mu      sync.Mutex
	buckets []bucket    // by due time, earliest first
	timer   *time.Timer // fires at buckets[0].at
	armedAt int64       // the due time timer is set for; 0: none
	// after, when set, runs in the firing goroutine after the timers it
	// called (the Checker starts the batch they queued).
	after func()
}

var _ Clock = (*slotClock)(nil)

// bucket holds the timers due at one millisecond.
type bucket struct {
	at     int64 // Unix ms
	timers []*slotTimer
}

func newSlotClock() *slotClock {
	k := &slotClock{}
	k.timer = time.AfterFunc(time.Hour, k.fire)
	k.timer.Stop()
	return k
}

// slotTimer is one AfterFunc of a slotClock.
type slotTimer struct {
	k    *slotClock
	f    func()
	done bool // fired or stopped; guarded by k.mu
}

func (k *slotClock) Now() time.Time { return time.Now() }

// AfterFunc calls f at now+d rounded to the nearest millisecond, together
// with every other timer due then.
func (k *slotClock) AfterFunc(d time.Duration, f func()) Timer {
	at := time.Now().Add(d).Add(time.Millisecond / 2).UnixMilli()
	t := &slotTimer{k: k, f: f}
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := slices.BinarySearchFunc(k.buckets, at, func(b bucket, at int64) int { return cmp.Compare(b.at, at) })
	if !ok {
		k.buckets = slices.Insert(k.buckets, i, bucket{at: at})
	}
	k.buckets[i].timers = append(k.buckets[i].timers, t)
	k.arm()
	return t
}

// arm sets the runtime timer for the earliest bucket. Called with k.mu held.
func (k *slotClock) arm() {
	if len(k.buckets) == 0 || k.armedAt == k.buckets[0].at {
		return
	}
	k.armedAt = k.buckets[0].at
	k.timer.Reset(time.Until(time.UnixMilli(k.armedAt)))
}

// fire calls every timer now due, one after another.
func (k *slotClock) fire() {
	k.mu.Lock()
	k.armedAt = 0
	now := time.Now().UnixMilli()
	var due []*slotTimer
	fired := 0
	for _, b := range k.buckets {
		if b.at > now {
			break
		}
		if due == nil {
			due = b.timers // the bucket's own slice: no copy
		} else {
			due = append(due, b.timers...)
		}
		fired++
	}
	// Cleared, so the fired timers can be collected.
	clear(k.buckets[:fired])
	k.buckets = k.buckets[fired:]
	n := 0
	for _, t := range due {
		if !t.done {
			t.done = true
			due[n] = t
			n++
		}
	}
	k.arm()
	k.mu.Unlock()
	for _, t := range due[:n] {
		t.f()
	}
	if k.after != nil && n > 0 {
		k.after()
	}
}

// Stop keeps t from firing. Its bucket entry stays until the bucket is due.
func (t *slotTimer) Stop() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

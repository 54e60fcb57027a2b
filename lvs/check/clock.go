package check

import "time"

// Clock is the Checker's only source of scheduling time, so tests can
// step it instead of sleeping. Probe latencies and timeouts use real time:
// they measure the network, not the schedule.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d from a goroutine of the clock's, like
	// time.AfterFunc. f must not block.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable timer from a Clock.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// SystemClock is the real clock, the Checker's default.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

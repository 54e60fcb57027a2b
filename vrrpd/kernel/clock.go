package kernel

import (
	"container/heap"
	"errors"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/vrrpd"
)

// Clock is the real clock. Its timers fire on time, which the runtime's
// do not: Go's timers are run by the scheduler, whose netpoller sleeps in
// epoll_wait with a millisecond timeout, so a timer fires 0–1.3 ms late
// (median ~0.6 ms here). A backup's master-down timer fires that much
// after the RFC's Master_Down_Interval, and a master's adverts drift by
// as much. Clock's timers instead share one timerfd (CLOCK_MONOTONIC,
// absolute, no timer slack) read by one goroutine locked to its own OS
// thread, which runs the due callbacks itself, one after another
// (~0.05 ms after the deadline): a callback must not block for long —
// the engine's take its lock, do their work and return. Without timerfd
// it falls back to the runtime's timers. The zero value is ready to use;
// all Clocks share the thread.
type Clock struct{}

var _ vrrpd.Clock = Clock{}

// Now returns the current time.
func (Clock) Now() time.Time { return time.Now() }

var _ vrrpd.PreciseClock = Clock{}

// AfterFunc runs f on the timer thread after d, woken by the timerfd at
// the deadline (a sleeping thread's wake-up late, ~0.05 ms).
func (c Clock) AfterFunc(d time.Duration, f func()) vrrpd.Timer { return c.after(d, f, false) }

// AfterFuncPrecise runs f on the timer thread after d, woken wakeLead
// early and spinning out the rest (~0.01 ms late), for the timers whose
// lateness delays a failover. The spin costs CPU: use it sparingly.
func (c Clock) AfterFuncPrecise(d time.Duration, f func()) vrrpd.Timer { return c.after(d, f, true) }

func (Clock) after(d time.Duration, f func(), spin bool) vrrpd.Timer {
	s := sharedTimers()
	if s == nil {
		return time.AfterFunc(d, f)
	}
	t := &preciseTimer{s: s, f: f, index: -1, spin: spin}
	s.add(t, d)
	return t
}

// RuntimeClock uses the runtime's timers: for comparison in benchmarks,
// and where timerfd is unavailable.
type RuntimeClock struct{}

var _ vrrpd.Clock = RuntimeClock{}

// Now returns the current time.
func (RuntimeClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RuntimeClock) AfterFunc(d time.Duration, f func()) vrrpd.Timer { return time.AfterFunc(d, f) }

// sharedTimers starts the timer thread on first use; nil when timerfd
// cannot be created.
var sharedTimers = sync.OnceValue(func() *timerService {
	s, err := newTimerService()
	if err != nil {
		return nil
	}
	return s
})

// wakeLead is how much earlier than a deadline the timer thread is woken:
// about the wake-up latency of a sleeping thread here (BenchmarkClock-
// Lateness), which it then spends spinning until the deadline.
const wakeLead = 40 * time.Microsecond

// timerService keeps pending timers in a heap by deadline and programs
// the timerfd with the earliest one.
type timerService struct {
	fd int

	mu      sync.Mutex
	pending timerHeap
	// armed is the wake-up time the timerfd holds (0: none).
	armed time.Duration
}

type preciseTimer struct {
	s     *timerService
	f     func()
	when  time.Duration // CLOCK_MONOTONIC
	index int           // in s.pending; -1 when not pending
	// spin: wake wakeLead early and spin to the deadline (AfterFuncPrecise).
	spin bool
}

func newTimerService() (*timerService, error) {
	// Blocking on purpose: the timer thread reads it with a plain read(2),
	// outside the netpoller, whose wake-ups are what is late.
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	s := &timerService{fd: fd}
	go s.loop()
	return s, nil
}

// now reads CLOCK_MONOTONIC, the timerfd's clock.
func now() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// add schedules t, which is not pending, after d.
func (s *timerService) add(t *preciseTimer, d time.Duration) {
	when := now() + max(d, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push(t, when)
}

func (s *timerService) push(t *preciseTimer, when time.Duration) {
	t.when = when
	heap.Push(&s.pending, t)
	s.program()
}

// program sets the timerfd to the earliest deadline if it is not set
// to it already. A timerfd left at a later or cancelled deadline only
// costs a wake-up that finds nothing due. Callers hold s.mu.
func (s *timerService) program() {
	if len(s.pending) == 0 {
		return
	}
	wake := s.pending[0].when
	if s.pending[0].spin {
		wake -= wakeLead
	}
	if s.armed != 0 && s.armed <= wake {
		return
	}
	s.armed = wake
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(wake))}
	if err := unix.TimerfdSettime(s.fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		// Cannot happen with a valid fd and deadline; never lose a timer.
		panic("vrrpd/kernel: timerfd_settime: " + err.Error())
	}
}

func (s *timerService) loop() {
	runtime.LockOSThread()
	var buf [8]byte
	var due []func()
	for {
		if _, err := unix.Read(s.fd, buf[:]); err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
			panic("vrrpd/kernel: reading timerfd: " + err.Error())
		}
		t := now()
		s.mu.Lock()
		// Woken wakeLead early: wait out the rest here, the few
		// microseconds a thread takes to run again instead of the tens
		// it takes to wake.
		if len(s.pending) > 0 && s.pending[0].spin {
			if until := s.pending[0].when; until > t && until-t <= wakeLead {
				s.mu.Unlock()
				for t < until {
					t = now()
				}
				s.mu.Lock()
			}
		}
		s.armed = 0
		for len(s.pending) > 0 && s.pending[0].when <= t {
			due = append(due, heap.Pop(&s.pending).(*preciseTimer).f)
		}
		// The next deadline is programmed after the callbacks: they
		// usually re-arm, and the syscall would delay this one.
		if len(due) == 0 {
			s.program()
		}
		s.mu.Unlock()
		// Inline, not `go f()`: a goroutine started here lands in this
		// P's runnext, and this thread goes straight back into read(2)
		// holding that P, so f waited until another thread stole it or
		// sysmon retook the P — 0.1 ms typically, 4 ms seen.
		for i, f := range due {
			f()
			due[i] = nil
		}
		if len(due) > 0 {
			s.mu.Lock()
			s.program()
			s.mu.Unlock()
		}
		due = due[:0]
	}
}

// Stop prevents the timer from firing; it reports whether it was pending.
func (t *preciseTimer) Stop() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.s.pending, t.index)
	return true
}

// Reset re-arms the timer to fire after d; it reports whether it was pending.
func (t *preciseTimer) Reset(d time.Duration) bool {
	when := now() + max(d, 0)
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	active := t.index >= 0
	if active {
		heap.Remove(&t.s.pending, t.index)
	}
	t.s.push(t, when)
	return active
}

// timerHeap is a min-heap of timers by deadline (container/heap).
type timerHeap []*preciseTimer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*preciseTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}

package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Real-time scheduling for the VRRP daemon, the equivalent of
// keepalived's vrrp_rt_priority: with 20 ms adverts a master that is not
// scheduled for ~60 ms loses mastership, and under ordinary (CFS) load a
// runnable process can wait that long. SCHED_RR threads preempt every
// SCHED_OTHER task at once.
//
// Go has no single "process" policy: sched_setattr applies to one thread,
// and the runtime starts threads lazily. A thread created by clone
// inherits the policy of the thread that created it, so once every
// existing thread is real-time, new ones are too; the walk over
// /proc/self/task is repeated until a pass changes nothing, to catch
// threads cloned during the walk, and KeepRealtime repeats it
// periodically as a safety net.

// MaxRealtimePriority is the highest SCHED_RR priority on Linux.
const MaxRealtimePriority = 99

// realtimeMu keeps the periodic walk from promoting the thread
// StartNormal has just demoted to fork a child from.
var realtimeMu sync.Mutex

// ThreadIDs lists the threads of this process.
func ThreadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// ThreadPolicy returns a thread's scheduling policy and real-time priority.
func ThreadPolicy(tid int) (policy uint32, priority uint32, err error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, 0, err
	}
	return a.Policy, a.Priority, nil
}

// EnableRealtime puts every thread of this process on SCHED_RR at
// priority prio (1-99). It fails with a hint when the process lacks
// CAP_SYS_NICE or its cgroup has no real-time budget.
func EnableRealtime(prio int) error {
	if prio < 1 || prio > MaxRealtimePriority {
		return fmt.Errorf("real-time priority %d: want 1-%d", prio, MaxRealtimePriority)
	}
	realtimeMu.Lock()
	defer realtimeMu.Unlock()
	const maxPasses = 20
	for pass := 0; pass < maxPasses; pass++ {
		tids, err := ThreadIDs()
		if err != nil {
			return fmt.Errorf("real-time scheduling: %w", err)
		}
		changed := 0
		for _, tid := range tids {
			pol, pr, err := ThreadPolicy(tid)
			if errors.Is(err, unix.ESRCH) {
				continue // the thread ended
			}
			if err != nil {
				return fmt.Errorf("real-time scheduling: thread %d: %w", tid, err)
			}
			if pol == unix.SCHED_RR && pr == uint32(prio) {
				continue
			}
			attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(prio)}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				if errors.Is(err, unix.EPERM) {
					return fmt.Errorf("real-time scheduling (SCHED_RR %d): %w: needs CAP_SYS_NICE and, with cgroup real-time groups, a cpu.rt_runtime_us budget", prio, err)
				}
				return fmt.Errorf("real-time scheduling: thread %d: %w", tid, err)
			}
			changed++
		}
		if changed == 0 {
			return nil
		}
	}
	return fmt.Errorf("real-time scheduling: threads still appearing after %d passes", maxPasses)
}

// KeepRealtime re-applies EnableRealtime every interval for the life of
// the process, for threads that escaped inheritance (one cloned from a
// thread StartNormal had demoted). Errors are reported to onErr.
func KeepRealtime(prio int, interval time.Duration, onErr func(error)) {
	for range time.Tick(interval) {
		if err := EnableRealtime(prio); err != nil {
			onErr(err)
		}
	}
}

// LockMemory locks the pages the process touches in RAM (mlockall with
// MCL_ONFAULT), so swapping never delays an advert. MCL_ONFAULT matters
// for Go: without it every future mapping is populated whole, so the
// runtime's heap and metadata reservations would all become resident;
// with it a page is locked when first used.
func LockMemory() error {
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
		return fmt.Errorf("mlockall: %w", err)
	}
	return nil
}

// onThrowawayThread runs f on a thread of its own, which the runtime
// discards when the goroutine ends locked to it: a scheduling policy f
// sets stays on no thread of the process (the runtime never clones a
// new thread from a locked one, so none inherits it either).
func onThrowawayThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with this goroutine.
		errc <- f()
	}()
	return <-errc
}

// runningRealtime reports whether the calling thread has a real-time policy.
func runningRealtime() bool {
	pol, _, err := ThreadPolicy(0)
	return err == nil && (pol == unix.SCHED_RR || pol == unix.SCHED_FIFO)
}

// StartNormal starts cmd at normal priority (SCHED_OTHER) even when this
// process runs real-time: a hook or check script must not compete with
// the VRRP timers, nor spin at real-time priority. The child is forked
// from a throwaway thread demoted for the purpose, so no real-time
// thread is lost and no demoted one is reused.
func StartNormal(cmd *exec.Cmd) error {
	if !runningRealtime() {
		return cmd.Start()
	}
	return onThrowawayThread(func() error {
		realtimeMu.Lock()
		defer realtimeMu.Unlock()
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_NORMAL}, 0); err != nil {
			return fmt.Errorf("start %s at normal priority: %w", cmd.Path, err)
		}
		return cmd.Start()
	})
}

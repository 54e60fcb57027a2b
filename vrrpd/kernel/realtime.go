package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

// KeepRealtime re-applies EnableRealtime every interval until ctx ends,
// for threads that escaped inheritance (one cloned from a thread
// StartNormal had demoted). Errors are reported to onErr.
func KeepRealtime(ctx context.Context, prio int, interval time.Duration, onErr func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := EnableRealtime(prio); err != nil && onErr != nil {
				onErr(err)
			}
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

// RealtimeAvailable reports why this process could not run real-time
// at prio (EnableRealtime and LockMemory), or nil when it can: for
// `run --realtime` to refuse with a clear reason, and for tests to skip
// where the environment (a container without CAP_SYS_NICE, a cgroup
// with no real-time budget) cannot grant it. It changes nothing:
// SCHED_RR is tried on a throwaway thread, and mlockall, whose
// MCL_FUTURE cannot be undone, is judged from CAP_IPC_LOCK or an
// unlimited RLIMIT_MEMLOCK plus mlock of one page of a scratch mapping.
func RealtimeAvailable(prio int) error {
	if prio < 1 || prio > MaxRealtimePriority {
		return fmt.Errorf("real-time priority %d: want 1-%d", prio, MaxRealtimePriority)
	}
	if err := probeSchedRR(prio); err != nil {
		return err
	}
	return probeMemoryLock()
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

// probeSchedRR tries SCHED_RR on a throwaway thread.
func probeSchedRR(prio int) error {
	err := onThrowawayThread(func() error {
		err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(prio)}, 0)
		if err == nil {
			// Back to normal for the little time the thread has left.
			_ = unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_NORMAL}, 0)
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM) && hasCapability(unix.CAP_SYS_NICE):
		// Permitted by capability, refused anyway: real-time group
		// scheduling (cgroup v1) with no budget for this group.
		return fmt.Errorf("real-time scheduling (SCHED_RR %d) not permitted: %w: the cpu cgroup %s has no real-time budget (cpu.rt_runtime_us is 0)", prio, err, cpuCgroup())
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("real-time scheduling (SCHED_RR %d) not permitted: %w: needs CAP_SYS_NICE (or RLIMIT_RTPRIO >= %d)", prio, err, prio)
	default:
		return fmt.Errorf("real-time scheduling (SCHED_RR %d): %w", prio, err)
	}
}

func probeMemoryLock() error {
	if !hasCapability(unix.CAP_IPC_LOCK) {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
			return fmt.Errorf("memory locking: %w", err)
		}
		if lim.Cur != unix.RLIM_INFINITY {
			// mlockall(MCL_CURRENT) counts every mapping, and the Go
			// runtime reserves far more address space than any finite
			// default limit.
			return fmt.Errorf("memory locking (mlockall) not permitted: needs CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK (it is %d bytes)", lim.Cur)
		}
	}
	// The capability may still be refused by a seccomp filter.
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("memory locking: scratch mapping: %w", err)
	}
	defer unix.Munmap(page)
	if err := unix.Mlock(page); err != nil {
		return fmt.Errorf("memory locking (mlock) refused: %w", err)
	}
	if err := unix.Munlock(page); err != nil {
		return fmt.Errorf("memory locking: munlock: %w", err)
	}
	return nil
}

// hasCapability reports whether the calling thread has capability c
// (below 32) in its effective set.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return false
	}
	return caps[0].Effective&(1<<c) != 0
}

// cpuCgroup names this process's group in the cgroup-v1 cpu hierarchy,
// or "of this process" when it cannot tell.
func cpuCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "of this process"
	}
	for _, l := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controller-list:path
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			return f[2]
		}
	}
	return "of this process"
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

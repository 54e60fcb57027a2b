// Package rtprobe tells tests whether this environment can grant
// `hakeeper run --realtime` what it asks for, without changing anything.
package rtprobe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxPriority is the highest SCHED_RR priority on Linux
// (kernel.MaxRealtimePriority, which vrrpd/kernel's tests cannot import
// from here without a cycle).
const maxPriority = 99

// Available reports why this process could not run real-time at prio
// (kernel.EnableRealtime and kernel.LockMemory), or nil when it can, so
// tests skip where the environment (a container without CAP_SYS_NICE, a
// cgroup with no real-time budget) cannot grant it. It changes nothing:
// SCHED_RR is tried on a throwaway thread, and mlockall, whose
// MCL_FUTURE cannot be undone, is judged from CAP_IPC_LOCK or an
// unlimited RLIMIT_MEMLOCK plus mlock of one page of a scratch mapping.
func Available(prio int) error {
	if prio < 1 || prio > maxPriority {
		return fmt.Errorf("real-time priority %d: want 1-%d", prio, maxPriority)
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

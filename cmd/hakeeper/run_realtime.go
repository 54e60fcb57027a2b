package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/vrrpd/kernel"
)

// `hakeeper run --realtime[=PRIO]`: the daemon's equivalent of
// keepalived's vrrp_rt_priority.

const (
	// defaultRealtimePriority is what --realtime alone selects: above
	// kernel threads' default 1 and below watchdogs (99).
	defaultRealtimePriority = 10
	// realtimeRecheck is how often threads are re-checked for the policy.
	realtimeRecheck = time.Second
	// realtimeGCPercent and realtimeMemoryLimit apply unless GOGC or
	// GOMEMLIMIT are set: a small heap collected 4x less often, with a
	// soft ceiling so the larger GOGC cannot grow it unbounded.
	realtimeGCPercent   = 400
	realtimeMemoryLimit = 256 << 20
)

// addRealtimeFlag adds --realtime to the run command; it takes effect
// before the daemon starts.
func addRealtimeFlag(cmd *cobra.Command) {
	var prio int
	f := cmd.Flags()
	f.IntVar(&prio, "realtime", 0, fmt.Sprintf("run with real-time scheduling (SCHED_RR at this priority, 1-99; --realtime alone: %d), memory locked (mlockall) and fewer GC cycles, so VRRP timers hold under CPU load; hooks and checks still run at normal priority. Needs CAP_SYS_NICE and CAP_IPC_LOCK", defaultRealtimePriority))
	f.Lookup("realtime").NoOptDefVal = fmt.Sprint(defaultRealtimePriority)
	cmd.PreRunE = func(c *cobra.Command, _ []string) error {
		if !c.Flags().Changed("realtime") {
			return nil
		}
		return applyRealtime(prio, c.ErrOrStderr())
	}
}

// applyRealtime switches the process to real-time before the daemon
// starts its engine, and keeps new threads real-time for its lifetime.
func applyRealtime(prio int, stderr io.Writer) error {
	if prio < 1 || prio > kernel.MaxRealtimePriority {
		return fmt.Errorf("--realtime=%d: want a priority from 1 to %d", prio, kernel.MaxRealtimePriority)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := kernel.LockMemory(); err != nil {
		return fmt.Errorf("--realtime: %w (needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK)", err)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(realtimeGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(realtimeMemoryLimit)
	}
	if err := kernel.EnableRealtime(prio); err != nil {
		return fmt.Errorf("--realtime: %w", err)
	}
	go kernel.KeepRealtime(prio, realtimeRecheck, func(err error) {
		log.Warn("real-time scheduling", "err", err)
	})
	log.Info("real-time scheduling", "policy", "SCHED_RR", "priority", prio, "mlockall", true,
		"GOGC", os.Getenv("GOGC"), "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
	return nil
}

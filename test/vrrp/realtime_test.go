package vrrp

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/test/rtprobe"
)

// schedOf reads a task's real-time priority and policy from its
// /proc stat (fields 40 and 41; the command name in parentheses may
// hold spaces, so count from the closing parenthesis).
func schedOf(path string) (rtprio, policy int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state): field N is f[N-3].
	if len(f) < 39 {
		return 0, 0, fmt.Errorf("%s: short stat %q", path, s)
	}
	rtprio, _ = strconv.Atoi(f[37])
	policy, _ = strconv.Atoi(f[38])
	return rtprio, policy, nil
}

// TestRealtimeDaemon: `hakeeper run --realtime=10` becomes master with
// every thread on SCHED_RR 10 and its memory locked, while its notify
// hook runs at normal priority (SCHED_OTHER).
func TestRealtimeDaemon(t *testing.T) {
	lab := netns.New(t, 1)
	// The daemon runs as root like the test: where root cannot get
	// SCHED_RR or lock memory (a container without CAP_SYS_NICE, a
	// cgroup-v1 group with rt_runtime_us 0), --realtime rightly refuses.
	if err := rtprobe.Available(10); err != nil {
		t.Skipf("real-time scheduling unavailable here: %v", err)
	}
	n1 := lab.Node(1)
	hookOut := filepath.Join(t.TempDir(), "hook")
	src := Description(t, lab, fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    nodes: [n1]
    advertInterval: 100ms
    notify:
      # The engine appends keepalived's arguments (INSTANCE web MASTER
      # 200); the comment sign keeps them away from cut.
      master: "cut -d' ' -f40,41 /proc/self/stat > %s #"
`, hookOut))
	h := StartHakeeperArgs(t, n1, src, []string{"--realtime=10"})
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	if err := h.WaitOutput(`msg="real-time scheduling" policy=SCHED_RR priority=10`, time.Second); err != nil {
		t.Error(err)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.Pid()))
	if !strings.Contains(string(status), "VmLck:") || strings.Contains(string(status), "VmLck:\t       0 kB") {
		t.Errorf("hakeeper's memory is not locked:\n%s", status)
	}
	deadline := time.Now().Add(3 * time.Second)
	var hook []byte
	var err error
	for time.Now().Before(deadline) {
		if hook, err = os.ReadFile(hookOut); err == nil && len(hook) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.TrimSpace(string(hook)); got != "0 0" {
		t.Errorf("master hook ran with rt_priority/policy %q, want SCHED_OTHER (\"0 0\")", got)
	}
	// The hook was forked from a thread demoted for that purpose, which
	// lives until the fork returns; so the daemon's threads are checked
	// once the hook has run, and given the re-check period (1 s) to be
	// all real-time again. A thread left at normal priority fails.
	var stray []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		stray = nonRealtimeThreads(t, h.Pid(), 10)
		if len(stray) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range stray {
		t.Error(s)
	}
	h.Stop(t)
}

// nonRealtimeThreads describes each thread of pid that is not on
// SCHED_RR at prio.
func nonRealtimeThreads(t *testing.T, pid, prio int) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of hakeeper: %v %v", tasks, err)
	}
	var stray []string
	for _, task := range tasks {
		rtprio, pol, err := schedOf(task)
		if err != nil {
			continue // the thread ended
		}
		if pol != 2 || rtprio != prio {
			stray = append(stray, fmt.Sprintf("%s: policy %d priority %d, want SCHED_RR (2) at %d", task, pol, rtprio, prio))
		}
	}
	return stray
}

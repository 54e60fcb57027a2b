package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
)

func TestEnableRealtimeRejectsPriority(t *testing.T) {
	for _, prio := range []int{0, -1, 100} {
		if err := EnableRealtime(prio); err == nil || !strings.Contains(err.Error(), "want 1-99") {
			t.Errorf("EnableRealtime(%d) = %v, want a range error", prio, err)
		}
	}
}

// TestRealtime runs a helper process that enables SCHED_RR and
// mlockall, then forces the runtime to create threads: every thread,
// old and new, must be SCHED_RR at the priority, memory must be locked,
// and a hook started through Runner must run at SCHED_OTHER.
func TestRealtime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_NICE) for SCHED_RR")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(t.TempDir(), "child")
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "--", "7", child)
	cmd.Env = append(os.Environ(), helperEnv+"=realtime")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			fields[k] = v
		}
	}
	before, _ := strconv.Atoi(fields["threads_before"])
	after, _ := strconv.Atoi(fields["threads_after"])
	if after <= before {
		t.Errorf("helper did not create threads (%d before, %d after):\n%s", before, after, out)
	}
	if fields["not_rr"] != "" {
		t.Errorf("threads not SCHED_RR 7: %s\n%s", fields["not_rr"], out)
	}
	if lck, _ := strconv.Atoi(fields["vmlck_kib"]); lck <= 0 {
		t.Errorf("no memory locked (VmLck %q)\n%s", fields["vmlck_kib"], out)
	}
	// /proc/PID/stat fields 40 and 41 of the hook: rt_priority and policy.
	b, err := os.ReadFile(child)
	if err != nil {
		t.Fatalf("hook did not run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(b)); got != "0 0" {
		t.Errorf("hook ran with rt_priority/policy %q, want SCHED_OTHER (\"0 0\")", got)
	}
}

func realtimeHelper(args []string) error {
	prio, _ := strconv.Atoi(args[0])
	tids, _ := ThreadIDs()
	fmt.Printf("threads_before=%d\n", len(tids))
	if err := EnableRealtime(prio); err != nil {
		return err
	}
	if err := LockMemory(); err != nil {
		return err
	}
	// Goroutines locked to threads blocked in a syscall make the runtime
	// clone new threads for the rest.
	const extra = 6
	ready := make(chan struct{})
	for i := 0; i < extra; i++ {
		go func() {
			runtime.LockOSThread()
			ready <- struct{}{}
			var ts = unix.Timespec{Sec: 2}
			unix.Nanosleep(&ts, nil)
		}()
	}
	for i := 0; i < extra; i++ {
		<-ready
	}
	time.Sleep(50 * time.Millisecond)
	tids, err := ThreadIDs()
	if err != nil {
		return err
	}
	fmt.Printf("threads_after=%d\n", len(tids))
	var bad []string
	for _, tid := range tids {
		pol, pr, err := ThreadPolicy(tid)
		if err == nil && (pol != unix.SCHED_RR || pr != uint32(prio)) {
			bad = append(bad, fmt.Sprintf("%d:%d/%d", tid, pol, pr))
		}
	}
	fmt.Printf("not_rr=%s\n", strings.Join(bad, ","))
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmLck:") {
			fmt.Printf("vmlck_kib=%s\n", strings.Fields(l)[1])
		}
	}
	code, err := Runner{}.Run(context.Background(), model.Command{Shell: "cut -d' ' -f40,41 /proc/self/stat > " + args[1]}, "")
	if err != nil || code != 0 {
		return fmt.Errorf("hook: exit %d, %v", code, err)
	}
	// The hook's demoted thread is gone or promoted; the daemon's are RT.
	if !runningRealtime() {
		return fmt.Errorf("calling thread lost SCHED_RR after the hook")
	}
	return nil
}

package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/rtprobe"
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
	if err := rtprobe.Available(7); err != nil {
		t.Skipf("this environment cannot grant real time (TestRealtimeAvailable checks that the probe is right): %v", err)
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

// TestRealtimeAvailable: the probe agrees with the real thing. A helper
// process runs rtprobe.Available, shows that the probe left every thread
// at SCHED_OTHER and no memory locked, then tries EnableRealtime and
// LockMemory: the probe must answer nil exactly when both succeed, and
// name what is missing when they do not. The environments that cannot
// grant real time are made for real: a capability dropped from the
// bounding set (setpriv), a finite memlock limit, a cgroup-v1 cpu group
// without a real-time budget.
func TestRealtimeAvailable(t *testing.T) {
	t.Run("this process", func(t *testing.T) {
		res := runProbeHelper(t, nil, "-", "-")
		res.checkAgrees(t)
	})
	if os.Geteuid() != 0 {
		t.Skip("needs root to take capabilities away")
	}
	if err := rtprobe.Available(7); err != nil {
		t.Skipf("real time is unavailable here already, so taking one grant away proves nothing: %v", err)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux) to drop capabilities")
	}
	t.Run("without CAP_SYS_NICE", func(t *testing.T) {
		res := runProbeHelper(t, []string{setpriv, "--bounding-set", "-sys_nice", "--"}, "0", "-")
		res.checkAgrees(t)
		res.checkRefused(t, "CAP_SYS_NICE")
	})
	t.Run("without CAP_IPC_LOCK and with a finite RLIMIT_MEMLOCK", func(t *testing.T) {
		res := runProbeHelper(t, []string{setpriv, "--bounding-set", "-ipc_lock", "--"}, "-", "65536")
		res.checkAgrees(t)
		res.checkRefused(t, "CAP_IPC_LOCK")
	})
	t.Run("in a cgroup without a real-time budget", func(t *testing.T) {
		dir := rtlessCgroup(t)
		res := runProbeHelper(t, []string{"sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}, "-", "-")
		res.checkAgrees(t)
		res.checkRefused(t, "has no real-time budget")
	})
}

// probeResult is what the probe helper printed.
type probeResult struct {
	out    string
	fields map[string]string
}

// runProbeHelper runs the probe helper for priority 7 under the command
// prefix wrap, with RLIMIT_RTPRIO and RLIMIT_MEMLOCK lowered to rtprio
// and memlock ("-" leaves a limit alone).
func runProbeHelper(t *testing.T, wrap []string, rtprio, memlock string) probeResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), wrap...), exe, "-test.run=^TestHelperProcess$", "--", "7", rtprio, memlock)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=probe")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe helper: %v\n%s", err, out)
	}
	res := probeResult{out: string(out), fields: map[string]string{}}
	for _, l := range strings.Split(res.out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			res.fields[k] = v
		}
	}
	for _, k := range []string{"probe", "rt_threads", "vmlck_kib", "enable", "lock"} {
		if _, ok := res.fields[k]; !ok {
			t.Fatalf("probe helper printed no %s:\n%s", k, out)
		}
	}
	return res
}

// checkAgrees fails unless the probe changed nothing and answered nil
// exactly when EnableRealtime and LockMemory both succeeded.
func (r probeResult) checkAgrees(t *testing.T) {
	t.Helper()
	if r.fields["rt_threads"] != "" {
		t.Errorf("threads left real-time by the probe: %s\n%s", r.fields["rt_threads"], r.out)
	}
	if r.fields["vmlck_kib"] != "0" {
		t.Errorf("memory left locked by the probe: VmLck %s kB\n%s", r.fields["vmlck_kib"], r.out)
	}
	probeOK := r.fields["probe"] == "ok"
	realOK := r.fields["enable"] == "ok" && r.fields["lock"] == "ok"
	if probeOK != realOK {
		t.Errorf("the probe disagrees with EnableRealtime and LockMemory:\n%s", r.out)
	}
}

// checkRefused fails unless the probe refused, naming want.
func (r probeResult) checkRefused(t *testing.T, want string) {
	t.Helper()
	if !strings.Contains(r.fields["probe"], want) {
		t.Errorf("probe answered %q, want a refusal naming %s\n%s", r.fields["probe"], want, r.out)
	}
}

func probeHelper(args []string) error {
	prio, _ := strconv.Atoi(args[0])
	for i, res := range []int{unix.RLIMIT_RTPRIO, unix.RLIMIT_MEMLOCK} {
		if args[1+i] == "-" {
			continue
		}
		v, err := strconv.ParseUint(args[1+i], 10, 64)
		if err != nil {
			return err
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	errText := func(err error) string {
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	fmt.Printf("probe=%s\n", errText(rtprobe.Available(prio)))
	// The probe's thread ends with its goroutine: give the runtime a
	// moment to let it go before looking for real-time threads.
	var rt []string
	for try := 0; try < 100; try++ {
		rt = nil
		tids, err := ThreadIDs()
		if err != nil {
			return err
		}
		for _, tid := range tids {
			if pol, pr, err := ThreadPolicy(tid); err == nil && pol != unix.SCHED_NORMAL {
				rt = append(rt, fmt.Sprintf("%d:%d/%d", tid, pol, pr))
			}
		}
		if len(rt) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("rt_threads=%s\n", strings.Join(rt, ","))
	fmt.Printf("vmlck_kib=%s\n", vmLockedKiB())
	fmt.Printf("enable=%s\n", errText(EnableRealtime(prio)))
	fmt.Printf("lock=%s\n", errText(LockMemory()))
	return nil
}

// vmLockedKiB is this process's VmLck from /proc/self/status.
func vmLockedKiB() string {
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmLck:") {
			return strings.Fields(l)[1]
		}
	}
	return "?"
}

// rtlessCgroup makes a cgroup-v1 cpu group beside this process's with
// no real-time budget (cpu.rt_runtime_us 0) and removes it at the end.
// It skips where there is no such hierarchy (cgroup v2, or a kernel
// without real-time group scheduling).
func rtlessCgroup(t *testing.T) string {
	t.Helper()
	const root = "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(root, "cpu.rt_runtime_us")); err != nil {
		t.Skip("no cgroup-v1 cpu hierarchy with real-time group scheduling")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	parent := root
	for _, l := range strings.Split(string(self), "\n") {
		// hierarchy-ID:controller-list:path
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			parent = filepath.Join(root, f[2])
		}
	}
	dir := filepath.Join(parent, fmt.Sprintf("hkv-rtprobe-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cpu cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing cgroup %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cpu.rt_runtime_us"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

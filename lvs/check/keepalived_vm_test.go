//go:build vmtest

package check_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/model"
)

var (
	benchServers = flag.Int("checkbench.servers", 1000, "how many real servers BenchmarkCheckerVsKeepalived checks (make bench-vm: as many as the emulated VM checks in a second)")
	benchRounds  = flag.Int("checkbench.rounds", 3, "how many windows BenchmarkCheckerVsKeepalived measures each checker")
)

// checkerRun is what one checker did over a measured window.
type checkerRun struct {
	name      string
	cpu       time.Duration // the checker's CPU time (user + system)
	wall      time.Duration
	accepted  uint64        // connections the listeners accepted
	listenCPU time.Duration // the listener helper's CPU time
}

func (r checkerRun) rate() float64       { return float64(r.accepted) / r.wall.Seconds() }
func (r checkerRun) cpuPercent() float64 { return 100 * r.cpu.Seconds() / r.wall.Seconds() }
func (r checkerRun) cpuPerCheck() float64 {
	return float64(r.cpu.Microseconds()) / max(float64(r.accepted), 1)
}

// BenchmarkCheckerVsKeepalived runs, inside the IPVS VM, keepalived's
// checker (keepalived -C, TCP_CHECK, delay_loop 1), then hakeeper's
// Checker (tcp check, interval 1s) with its built-in raw-socket batches,
// then the Checker with net.Dialer probes, against the same loopback
// listeners, and prints their CPU side by side. The raw-socket path is
// worth its code only while net.Dialer costs more than twice keepalived's
// CPU per check. Rates are counted by the listeners (connections
// accepted), not taken from the checkers. keepalived reaches the guest
// through the runner's HAKEEPER_VM_EXTRA (see the Makefile's bench-vm).
func BenchmarkCheckerVsKeepalived(b *testing.B) {
	servers := *benchServers
	keepalived, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("HAKEEPER_IN_VM") != "" {
			b.Fatal("keepalived is not in the VM: run with HAKEEPER_VM_EXTRA=/usr/sbin/keepalived")
		}
		b.Skip("keepalived not installed")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if os.Getenv("HAKEEPER_IN_VM") != "" {
			b.Fatal("no IPVS in the VM")
		}
		b.Skip("keepalived's checker needs IPVS: run in the VM (test/vm/run)")
	}
	version, _ := exec.Command(keepalived, "--version").CombinedOutput()
	version, _, _ = bytes.Cut(version, []byte("\n"))
	rss, helper := startListeners(b, servers)

	// Rounds alternate the three, so a change in the host's load (the VM's
	// CPUs are host threads) does not fall on one side only.
	k := checkerRun{name: strings.TrimSpace(string(version))}
	h := checkerRun{name: "hakeeper, raw-socket batches"}
	d := checkerRun{name: "hakeeper, net.Dialer"}
	var out strings.Builder
	fmt.Fprintf(&out, "TCP connect checks of %d real servers every 1s (same listeners, alternating %d x %v windows):\n",
		servers, *benchRounds, *benchWindow)
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tchecker\tchecks/s\tcpu%/core\tcpu-µs/check\tlistener-cpu%/core\t")
	row := func(round string, r checkerRun) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.1f\t%.2f\t\n", round, r.name, r.rate(), r.cpuPercent(), r.cpuPerCheck(),
			100*r.listenCPU.Seconds()/r.wall.Seconds())
	}
	add := func(sum *checkerRun, r checkerRun) {
		sum.cpu += r.cpu
		sum.wall += r.wall
		sum.accepted += r.accepted
		sum.listenCPU += r.listenCPU
	}
	b.ResetTimer()
	for range b.N {
		for i := range *benchRounds {
			kr := runKeepalived(b, keepalived, rss, helper)
			hr := runChecker(b, rss, helper, check.Options{Logger: quiet})
			dr := runChecker(b, rss, helper, check.Options{Logger: quiet, NewProbe: dialerProbes})
			kr.name, hr.name, dr.name = k.name, h.name, d.name
			row(strconv.Itoa(i+1), kr)
			row("", hr)
			row("", dr)
			add(&k, kr)
			add(&h, hr)
			add(&d, dr)
		}
	}
	b.StopTimer()
	row("all", k)
	row("", h)
	row("", d)
	tw.Flush()
	ratio, dialRatio := h.cpuPerCheck()/k.cpuPerCheck(), d.cpuPerCheck()/k.cpuPerCheck()
	fmt.Fprintf(&out, "CPU per check against keepalived: raw-socket batches %.2f, net.Dialer %.2f\n", ratio, dialRatio)
	verdict := "not justified: net.Dialer is within twice keepalived's CPU"
	if dialRatio > 2 {
		verdict = "justified: net.Dialer costs more than twice keepalived's CPU"
	}
	fmt.Fprintf(&out, "the raw-socket tcp path is %s\n", verdict)
	for _, r := range []checkerRun{k, h, d} {
		if r.rate() < 0.9*float64(servers) {
			fmt.Fprintf(&out, "WARNING: %s made %.0f checks/s, not about %d\n", r.name, r.rate(), servers)
		}
	}
	// Printed, not logged: a benchmark's log is cut to a few lines.
	fmt.Print(out.String())
	b.ReportMetric(k.cpuPercent(), "keepalived-cpu%/core")
	b.ReportMetric(h.cpuPercent(), "hakeeper-cpu%/core")
	b.ReportMetric(ratio, "hakeeper/keepalived")
	b.ReportMetric(dialRatio, "net.Dialer/keepalived")
}

// accepted returns how many connections the helper has accepted.
func (l *listeners) accepted(b *testing.B) uint64 {
	b.Helper()
	fmt.Fprintln(l.stdin)
	if !l.out.Scan() {
		b.Fatalf("listener helper: %v", l.out.Err())
	}
	n, err := strconv.ParseUint(l.out.Text(), 10, 64)
	if err != nil {
		b.Fatalf("listener helper: %v", err)
	}
	return n
}

// measure waits until the listeners see at least 90% of servers checks a
// second (the checker is in its steady state), or for at most a minute,
// then measures cpu, a function returning the checker's CPU time so far,
// over the window.
func measure(b *testing.B, name string, servers int, helper *listeners, cpu func() time.Duration) checkerRun {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a0, c0, t0 := helper.accepted(b), cpu(), time.Now()
		time.Sleep(2 * time.Second)
		wall := time.Since(t0).Seconds()
		rate := float64(helper.accepted(b)-a0) / wall
		if rate >= 0.9*float64(servers) {
			break
		}
		if time.Now().After(deadline) {
			b.Logf("%s: %.0f checks/s at %.0f%% of a core after a minute, want about %d: the VM is too slow; measuring anyway",
				name, rate, 100*(cpu()-c0).Seconds()/wall, servers)
			break
		}
	}
	a0, c0, l0, t0 := helper.accepted(b), cpu(), processCPUTime(b, helper.proc), time.Now()
	time.Sleep(*benchWindow)
	return checkerRun{
		name:      name,
		cpu:       cpu() - c0,
		wall:      time.Since(t0),
		accepted:  helper.accepted(b) - a0,
		listenCPU: processCPUTime(b, helper.proc) - l0,
	}
}

// runKeepalived runs keepalived's checker on rss until measured and stops it.
func runKeepalived(b *testing.B, keepalived string, rss []model.RealServerSpec, helper *listeners) checkerRun {
	b.Helper()
	dir := b.TempDir()
	var conf strings.Builder
	conf.WriteString("global_defs {\n  router_id bench\n}\nvirtual_server 192.0.2.10 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n")
	for _, rs := range rss {
		fmt.Fprintf(&conf, "  real_server %s %d {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n", rs.Address, rs.Port)
	}
	conf.WriteString("}\n")
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	logPath := filepath.Join(dir, "keepalived.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	pid := func(name string) string { return filepath.Join(dir, name+".pid") }
	// -n: stay in the foreground; -C: the checker only. No -l: keepalived
	// would copy every log line to the VM's serial console, whose cost
	// (an emulated UART) would be counted against it; the VM runs no
	// syslog daemon, so its log lines are dropped.
	cmd := exec.Command(keepalived, "-n", "-C", "-f", confPath,
		"-p", pid("keepalived"), "-c", pid("checkers"), "-r", pid("vrrp"), "-b", pid("bfd"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if b.Failed() {
			log, _ := os.ReadFile(logPath)
			b.Logf("keepalived log (tail):\n%s", tail(log, 40))
		}
	}()
	// The checker child's pid, once keepalived has written it.
	var child *os.Process
	for deadline := time.Now().Add(time.Minute); child == nil; time.Sleep(100 * time.Millisecond) {
		if data, err := os.ReadFile(pid("checkers")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				child, _ = os.FindProcess(n)
			}
		}
		select {
		case err := <-exited:
			stopped = true
			b.Fatalf("keepalived exited: %v", err)
		default:
		}
		if child == nil && time.Now().After(deadline) {
			b.Fatal("keepalived wrote no checker pid file within a minute")
		}
	}
	cpu := func() time.Duration { return processCPUTime(b, cmd.Process) + processCPUTime(b, child) }
	run := measure(b, "keepalived", len(rss), helper, cpu)
	// SIGTERM: keepalived removes its IPVS service on the way out.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		b.Fatal("keepalived did not stop within a minute of SIGTERM")
	}
	stopped = true
	return run
}

// runChecker runs a hakeeper Checker on rss until measured and closes it.
func runChecker(b *testing.B, rss []model.RealServerSpec, helper *listeners, opts check.Options) checkerRun {
	b.Helper()
	c := check.New(opts)
	defer c.Close()
	c.Update([]model.VirtualService{{Name: "web", Family: model.IPv4, Protocol: model.TCP,
		Address: netip.MustParseAddr("192.0.2.10"), Port: 80, RealServers: rss}})
	return measure(b, "hakeeper", len(rss), helper, cpuTime)
}

func tail(b []byte, lines int) []byte {
	for i := len(b) - 2; i >= 0; i-- {
		if b[i] == '\n' {
			if lines--; lines == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

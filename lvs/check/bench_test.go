package check_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/model"
)

var benchWindow = flag.Duration("checkbench.window", 10*time.Second,
	"how long BenchmarkChecker1000TCP measures CPU use")

// listenerEnv makes the test binary a helper process that serves TCP
// listeners for the benchmark, so the CPU the backends spend accepting is
// not counted against the checker.
const listenerEnv = "HAKEEPER_CHECK_BENCH_LISTENERS"

func TestMain(m *testing.M) {
	if n := os.Getenv(listenerEnv); n != "" {
		serveListeners(n)
		return
	}
	os.Exit(m.Run())
}

// serveListeners opens n loopback listeners, prints their addresses one a
// line, accepts and closes connections, answers each line on stdin with
// the number of connections accepted so far, and exits when stdin closes.
func serveListeners(n string) {
	count, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var accepted atomic.Uint64
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(l.Addr())
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
	}
	requests := bufio.NewScanner(os.Stdin)
	for requests.Scan() {
		fmt.Println(accepted.Load())
	}
}

// listeners is the running listener helper process.
type listeners struct {
	proc  *os.Process
	stdin io.Writer
	out   *bufio.Scanner
}

// startListeners runs the listener helper process with n listeners and
// returns a TCP-checked real server for each and the helper.
func startListeners(b *testing.B, n int) ([]model.RealServerSpec, *listeners) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	helper := exec.Command(exe)
	helper.Env = append(os.Environ(), listenerEnv+"="+strconv.Itoa(n))
	stdin, err := helper.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); helper.Wait() })
	var rss []model.RealServerSpec
	lines := bufio.NewScanner(stdout)
	for len(rss) < n && lines.Scan() {
		ap := netip.MustParseAddrPort(lines.Text())
		rss = append(rss, model.RealServerSpec{Address: ap.Addr(), Port: ap.Port(), Weight: 1,
			Check: &model.CheckSpec{Type: "tcp", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}})
	}
	if len(rss) != n {
		b.Fatalf("helper started %d listeners, want %d", len(rss), n)
	}
	return rss, &listeners{proc: helper.Process, stdin: stdin, out: lines}
}

// processCPUTime is the user and system CPU time process p has used, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 10ms).
func processCPUTime(b *testing.B, p *os.Process) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name, which may hold spaces.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dialerProbes makes tcp checks dial with net.Dialer (linger 0, as the
// built-in probe), the library path the built-in raw-socket batches are
// measured against; other types get the built-in probe. Passed as
// Options.NewProbe, it also puts tcp checks on the Checker's generic
// path, a goroutine per check.
func dialerProbes(spec *model.CheckSpec) (check.Probe, error) {
	if spec.Type != "tcp" {
		return check.NewProbe(spec)
	}
	d := net.Dialer{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	return func(ctx context.Context, t check.Target) check.Result {
		start := time.Now()
		c, err := d.DialTCP(ctx, "tcp", netip.AddrPort{}, t.AddrPort())
		if err != nil {
			return check.Result{Err: err, Latency: time.Since(start)}
		}
		c.Close()
		return check.Result{Latency: time.Since(start)}
	}, nil
}

// BenchmarkChecker1000TCP checks 1,000 real servers over TCP every second
// on loopback and reports the checker's CPU use as a percentage of one
// core: with the built-in batches (the daemon's path) and with
// net.Dialer. Run a longer window with -args -checkbench.window=60s.
func BenchmarkChecker1000TCP(b *testing.B) {
	b.Run("path=batched", func(b *testing.B) { benchChecker1000TCP(b, check.Options{Logger: quiet}) })
	b.Run("path=net.Dialer", func(b *testing.B) {
		benchChecker1000TCP(b, check.Options{Logger: quiet, NewProbe: dialerProbes})
	})
}

func benchChecker1000TCP(b *testing.B, opts check.Options) {
	const servers = 1000
	rss, helper := startListeners(b, servers)
	c := check.New(opts)
	defer c.Close()
	c.Update([]model.VirtualService{service(true, rss...)})
	total := func() (n uint64, healthy, checked int) {
		for _, st := range c.Status() {
			n += st.Checks
			if st.Healthy {
				healthy++
			}
			if st.Checks > 0 {
				checked++
			}
		}
		return n, healthy, checked
	}
	// Measure the steady state: from when every server has been checked.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, checked := total(); checked == servers {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("not every server was checked within 10s")
		}
	}
	checks0, _, _ := total()
	cpu0, wall0, helperCPU0 := cpuTime(), time.Now(), processCPUTime(b, helper.proc)
	b.ResetTimer()
	for range b.N {
		time.Sleep(*benchWindow)
	}
	b.StopTimer()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	helperCPU := processCPUTime(b, helper.proc) - helperCPU0
	checks, healthy, _ := total()
	if healthy != servers {
		b.Fatalf("%d of %d servers healthy", healthy, servers)
	}
	rate := float64(checks-checks0) / wall.Seconds()
	if rate < 0.9*servers {
		b.Fatalf("%.0f checks/s, want about %d", rate, servers)
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%/core")
	b.ReportMetric(rate, "checks/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(checks-checks0), "cpu-µs/check")
	// The listeners' own CPU (accept and close in the helper process). On
	// loopback the kernel handles both ends of each handshake in the
	// connecting thread, so the backends' SYN processing shows up in the
	// checker's cpu%/core above, not here.
	b.ReportMetric(100*helperCPU.Seconds()/wall.Seconds(), "listener-cpu%/core")
}

// BenchmarkTCPProbe is the floor under BenchmarkChecker1000TCP: the CPU
// of one TCP probe (dial, reset) back to back, without scheduling. On
// loopback it includes the kernel's work for the listener's half of the
// handshake, which a real backend does on its own host.
func BenchmarkTCPProbe(b *testing.B) {
	rss, _ := startListeners(b, 1)
	rs := rss[0]
	probe, err := check.NewProbe(rs.Check)
	if err != nil {
		b.Fatal(err)
	}
	target := check.Target{Address: rs.Address, Port: rs.Port}
	cpu0 := cpuTime()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if r := probe(ctx, target); !r.OK() {
			b.Fatal(r.Err)
		}
		cancel()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

package controller_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
)

// floodNofile is the descriptor limit of the flooded daemon: room for
// what it needs (netlink and VRRP sockets, the watch, a check's pipes)
// and the status server's MaxConns, but far less than the flood, so a
// server without a connection cap runs out.
const floodNofile = 160

// floodWindow is how long the flood is held: longer than the status
// server's idle timeout, so connections are closed and replaced by
// waiting ones, and many check intervals.
const floodWindow = 15 * time.Second

func floodCluster(runs string) string {
	return `cluster: flood
nodes:
  n1: {address: 10.99.0.11, interface: eth0}
  n2: {address: 10.99.0.12, interface: eth0}
checks:
  alive:
    command: echo run >> ` + runs + `
    interval: 1s
    fall: 1
    rise: 1
    # n1 runs at 200, n2 at 100: a check that cannot start drops n1 to 50.
    weight: -150
vipGroups:
  web:
    vrid: 62
    vips: [10.99.0.100/24]
    nodes: [n1, n2]
    # Slow adverts: a loaded test machine stalling the daemon for a few
    # hundred milliseconds must not look like the flood moving the VIP.
    advertInterval: 1s
    trackChecks: [{check: alive}]
`
}

// readInstances reads the VIP groups of the /status report the daemon
// keeps in state-dir/status.json.
func readInstances(t *testing.T, stateDir string) []status.VIPGroup {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r status.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.VIPGroups
}

func openFDs(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds), err
}

func countLines(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// A flood of connections to the status server that never finish (idle
// after a request, half-sent webhook bodies) changes nothing in VRRP: the
// daemon's descriptors stay within the connection cap, the tracked check
// keeps running and passing, and the master keeps its VIP with no
// transition. Without the cap the daemon ran out of descriptors, the
// check could not start, and the VIP moved.
func TestStatusFloodLeavesVRRPAlone(t *testing.T) {
	lab := netns.New(t, 2) // skips unless root
	bin := binary(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if err := os.WriteFile(runs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each node its own copy, its check counting in its own file.
	desc := filepath.Join(dir, "n1", "cluster.yaml")
	desc2 := filepath.Join(dir, "n2", "cluster.yaml")
	for name, r := range map[string]string{desc: runs, desc2: runs + "-n2"} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(floodCluster(r)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "hk1.sock")
	vip := netip.MustParseAddr("10.99.0.100")
	n1, n2 := lab.Node(1), lab.Node(2)
	state1, state2 := t.TempDir(), t.TempDir()
	p1 := n1.Start(t, "prlimit", fmt.Sprintf("--nofile=%d:%d", floodNofile, floodNofile), "--",
		bin, "run", "--node", "n1", "--source", desc, "--state-dir", state1,
		"--listen", "unix:"+sock, "--webhook-secret-file", secret)
	n2.Start(t, bin, "run", "--node", "n2", "--source", desc2, "--state-dir", state2, "--listen", "off")
	if _, err := lab.WaitHolder(vip, n1, 15*time.Second); err != nil {
		t.Fatalf("n1 never became master: %v\n%s", err, p1.Output())
	}
	// Settled: n1 master at full priority, checks running.
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := readInstances(t, state1)
		if len(st) == 1 && st[0].State == "master" && st[0].Priority == 200 && countLines(t, runs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 did not settle as master at 200: %+v\n%s", st, p1.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := readInstances(t, state1)[0]
	baseFDs, err := openFDs(p1.Pid())
	if err != nil {
		t.Fatal(err)
	}
	watch := lab.WatchHolders(vip)
	runsBefore := countLines(t, runs)

	// The flood: as many connections as the daemon has descriptors,
	// three of four idle after one request, one of four a webhook whose
	// body never arrives. Those beyond the cap wait in the accept queue.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range floodNofile + 40 {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			break // the accept queue is full: the flood is as big as it gets
		}
		conns = append(conns, c)
		req := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		if i%4 == 0 {
			req = "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"ref\":"
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	if len(conns) <= status.MaxConns {
		t.Fatalf("only %d flood connections: not enough to test the cap of %d", len(conns), status.MaxConns)
	}
	maxFDs := baseFDs
	end := time.Now().Add(floodWindow)
	for time.Now().Before(end) {
		n, err := openFDs(p1.Pid())
		if err != nil {
			t.Fatalf("daemon gone: %v\n%s", err, p1.Output())
		}
		maxFDs = max(maxFDs, n)
		time.Sleep(50 * time.Millisecond)
	}
	runsDuring := countLines(t, runs) - runsBefore
	flood := len(conns)
	for _, c := range conns {
		c.Close()
	}
	conns = nil

	if dual, err := watch.Stop(); err != nil || dual > 0 {
		t.Errorf("VIP held twice for %v during the flood (%v)", dual, err)
	}
	if h, _ := lab.Holders(vip); len(h) != 1 || h[0] != n1 {
		var names []string
		for _, n := range h {
			names = append(names, n.Name)
		}
		t.Errorf("after the flood the VIP is on %v, want %s only", names, n1.Name)
	}
	after := readInstances(t, state1)[0]
	if after.Transitions != before.Transitions || after.State != "master" || after.Priority != 200 {
		t.Errorf("n1 before the flood %+v, after %+v: want no transition, master at 200", before, after)
	}
	// A check every second: a third of the window is plenty on a loaded
	// machine, and none at all is what descriptor exhaustion gives.
	if want := int(floodWindow/time.Second) / 3; runsDuring < want {
		t.Errorf("the tracked check ran %d times in %v, want at least %d", runsDuring, floodWindow, want)
	}
	// Descriptors: the cap's connections and a little room for a check's
	// pipes and a reconcile pass, never the whole flood.
	if grew := maxFDs - baseFDs; grew > status.MaxConns+16 || maxFDs >= floodNofile {
		t.Errorf("the daemon's descriptors went from %d to %d during a flood of %d connections (cap %d, limit %d)",
			baseFDs, maxFDs, flood, status.MaxConns, floodNofile)
	}
	if out := p1.Output(); strings.Contains(out, "too many open files") {
		t.Errorf("the daemon ran out of descriptors:\n%s", out)
	}
	t.Logf("descriptors %d before, at most %d during the flood; %d check runs", baseFDs, maxFDs, runsDuring)
}

package controller_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
	"github.com/hakeeper/hakeeper/test/netns"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/hakeeper once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		dir, err := os.MkdirTemp("", "hkr-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hakeeper")
		if out, err := exec.Command(goBin, "build", "-o", binPath, "github.com/hakeeper/hakeeper/cmd/hakeeper").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func e2eCluster(order string) string {
	return `cluster: e2e
nodes:
  n1: {address: 10.99.0.11, interface: eth0}
  n2: {address: 10.99.0.12, interface: eth0}
vipGroups:
  web:
    vrid: 61
    vips: [10.99.0.100/24]
    nodes: [` + order + `]
    advertInterval: 100ms
`
}

// Two `hakeeper run` in network namespaces follow one Git repository (a
// file:// URL: the namespaces cannot reach the host's loopback). A commit
// moves the VIP's preferred node and both converge; a VIP deleted by hand
// is put back within one drift interval; a restarted backup adopts the
// state without moving the VIP. No IPVS here: no services.
func TestE2ETwoNodesFollowGit(t *testing.T) {
	lab := netns.New(t, 2) // skips unless root
	bin := binary(t)
	repo := gitserver.New(t)
	c1 := repo.CommitFile("n1 preferred", "cluster.yaml", e2eCluster("n1, n2"))
	url := "file://" + repo.Dir
	vip := netip.MustParseAddr("10.99.0.100")
	n1, n2 := lab.Node(1), lab.Node(2)
	states := map[*netns.Node]string{n1: t.TempDir(), n2: t.TempDir()}
	run := func(n *netns.Node, name string) *netns.Process {
		return n.Start(t, bin, "run", "--node", name, "--source", url, "--state-dir", states[n],
			"--interval", "1s", "--poll-interval", "200ms", "--log-level", "debug")
	}
	p1 := run(n1, "n1")
	p2 := run(n2, "n2")
	if _, err := lab.WaitHolder(vip, n1, 10*time.Second); err != nil {
		t.Fatalf("first commit: %v\n%s", err, p1.Output())
	}
	statusOf := func(n *netns.Node) *status.Report {
		out, err := n.Exec(bin, "status", "--json")
		var r status.Report
		if jerr := json.Unmarshal(out, &r); jerr != nil {
			t.Fatalf("status in %s: %v %v\n%s", n.Name, err, jerr, out)
		}
		return &r
	}
	if r := statusOf(n1); r.Applied == nil || r.Applied.ID != c1 || len(r.VIPGroups) != 1 || r.VIPGroups[0].State != "master" {
		t.Fatalf("n1 status %+v", r)
	}

	// A commit prefers n2: both nodes fetch it, n2 preempts.
	c2 := repo.CommitFile("n2 preferred", "cluster.yaml", e2eCluster("n2, n1"))
	if _, err := lab.WaitHolder(vip, n2, 10*time.Second); err != nil {
		t.Fatalf("after the commit: %v\n%s\n%s", err, p1.Output(), p2.Output())
	}
	for _, n := range []*netns.Node{n1, n2} {
		deadline := time.Now().Add(5 * time.Second)
		for r := statusOf(n); r.Applied.ID != c2; r = statusOf(n) {
			if time.Now().After(deadline) {
				t.Fatalf("%s applied %s, want %s", n.Name, r.Applied.ID, c2)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A VIP deleted by hand on the master is back within the interval.
	n2.MustExec(t, "ip", "addr", "del", "10.99.0.100/24", "dev", "eth0")
	took, err := n2.WaitAddr("eth0", vip, true, 3*time.Second)
	if err != nil {
		t.Fatalf("VIP not repaired: %v\n%s", err, p2.Output())
	}
	t.Logf("VIP deleted by hand repaired after %v", took)
	// The daemon counts the repair just after the kernel has the address
	// back, so the count may lag the address by a moment.
	deadline := time.Now().Add(5 * time.Second)
	r := statusOf(n2)
	for r.Drift.VIPRepairs == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r = statusOf(n2)
	}
	if r.Drift.VIPRepairs != 1 {
		t.Errorf("n2 drift %+v, want one VIP repair", r.Drift)
	}

	// Restarting the backup adopts the state: the VIP never moves.
	watch := lab.WatchHolders(vip)
	p1.Signal(syscall.SIGTERM)
	if code, err := p1.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("n1 stop: exit %d %v\n%s", code, err, p1.Output())
	}
	p1 = run(n1, "n1")
	if err := p1.WaitOutput("msg=running", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if dual, err := watch.Stop(); err != nil || dual > 0 {
		t.Errorf("VIP held twice for %v (%v)", dual, err)
	}
	if h, _ := lab.Holders(vip); len(h) != 1 || h[0] != n2 {
		t.Errorf("after n1's restart the VIP is on %v, want n2 only", h)
	}
	if r := statusOf(n1); r.Applied.ID != c2 || r.VIPGroups[0].State != "backup" {
		t.Errorf("restarted n1: applied %s state %s", r.Applied.ID, r.VIPGroups[0].State)
	}
	if !strings.Contains(p1.Output(), "applied") {
		t.Errorf("restarted n1 did not log its apply:\n%s", p1.Output())
	}
}

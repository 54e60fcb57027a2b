// Package vrrp holds the real-kernel VRRP integration tests, the
// keepalived interop tests and the failover benchmarks: hakeeper binaries
// (`hakeeper run`) and Debian's keepalived run in the namespaces of a
// test/netns lab; tests assert VIPs in each namespace's kernel and the
// packets captured on the bridge.
//
// Run:  go test ./test/vrrp                          (root; skips otherwise)
// Bench: HKV_BENCH=1 go test ./test/vrrp -run TestFailoverTable -v -timeout 30m
// Soak:  HKV_SOAK=10m go test ./test/vrrp -run TestSoak -v -timeout 30m
// Idle:  HKV_BENCH=1 go test ./test/vrrp -run TestIdleCost -v
//
// Timing is asserted from the capture's kernel timestamps against the
// RFC 5798 timers (rfc_test.go), never from polling, so the bounds hold
// on a loaded machine. The soak runs both daemons real-time (hakeeper
// run --realtime, keepalived vrrp_rt_priority + vrrp_no_swap) unless
// HKV_SOAK_REALTIME=0; bench_test.go lists every variable.
// HKV_NETNS_PREFIX names the run's namespaces (default hkv).
package vrrp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// goTool finds the go command: tests run from `go test`, which puts its
// own GOROOT first on PATH, but be robust when PATH is minimal.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Binary builds cmd/hakeeper once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hkv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hakeeper")
		out, err := exec.Command(goTool(), "build", "-o", binPath, "github.com/hakeeper/hakeeper/cmd/hakeeper").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build hakeeper: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// NodesYAML is the nodes section for every lab node, named n1..nN.
func NodesYAML(lab *netns.Lab) string {
	var b strings.Builder
	b.WriteString("nodes:\n")
	for _, n := range lab.Nodes {
		fmt.Fprintf(&b, "  %s:\n    address: %s\n    address6: %s\n    interface: %s\n",
			NodeName(n), n.Addr.Addr(), n.Addr6.Addr(), n.Iface)
	}
	return b.String()
}

// NodeName is a lab node's name in cluster descriptions.
func NodeName(n *netns.Node) string { return fmt.Sprintf("n%d", n.Index) }

// Description writes a cluster description into a temp dir and returns
// its path.
func Description(t testing.TB, lab *netns.Lab, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	text := "cluster: hkv-test\n" + NodesYAML(lab) + body
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Hakeeper is one `hakeeper run` in a node.
type Hakeeper struct {
	*netns.Process
	StateDir string
}

// StartHakeeper runs `hakeeper run` for node n on the description at src.
func StartHakeeper(t testing.TB, n *netns.Node, src string, env ...string) *Hakeeper {
	t.Helper()
	return StartHakeeperArgs(t, n, src, nil, env...)
}

// StartHakeeperArgs is StartHakeeper with extra `hakeeper run` flags
// (e.g. --realtime).
func StartHakeeperArgs(t testing.TB, n *netns.Node, src string, args []string, env ...string) *Hakeeper {
	t.Helper()
	state := t.TempDir()
	argv := append([]string{Binary(t), "run", "--node", NodeName(n), "--source", src,
		"--log-level", "debug", "--state-dir", state, "--listen", "off"}, args...)
	p := n.StartEnv(t, env, argv...)
	return &Hakeeper{Process: p, StateDir: state}
}

// Stop sends SIGTERM and waits for a clean exit.
func (h *Hakeeper) Stop(t testing.TB) {
	t.Helper()
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := h.Wait(20 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("hakeeper in %s: exit %d, %v\n%s", h.Node.Name, code, err, h.Output())
	}
}

// Status reads the state-dir's status.json (rewritten about once a second).
func (h *Hakeeper) Status() string {
	b, _ := os.ReadFile(filepath.Join(h.StateDir, "status.json"))
	return string(b)
}

// WaitGroup polls the /status of the daemon listening on unix socket
// sock until VIP group name satisfies ok, and returns it. Tests that
// assert something did not happen wait here for evidence that the daemon
// ran long enough for it to happen (e.g. how many adverts it accepted),
// rather than for a span of wall time.
func WaitGroup(sock, name string, timeout time.Duration, ok func(status.VIPGroup) bool) (status.VIPGroup, error) {
	c := status.NewClient("unix:" + sock)
	var last status.VIPGroup
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := c.Status(ctx)
		cancel()
		if err == nil {
			for _, g := range r.VIPGroups {
				if g.Name == name {
					last = g
					if ok(g) {
						return g, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%s: group %s not as awaited after %v: %+v", sock, name, timeout, last)
		}
	}
}

// WaitStatus polls status.json until it contains s.
func (h *Hakeeper) WaitStatus(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(h.Status(), s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: status.json lacks %q after %v:\n%s", h.Node.Name, s, timeout, h.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// KeepalivedInstance describes one vrrp_instance of a keepalived config.
type KeepalivedInstance struct {
	Name     string
	VRID     int
	Priority int
	// Advert is advert_int as keepalived writes it ("1", "0.1").
	Advert  string
	Version int
	VIPs    []string
	// Pass, when set, adds PASS authentication (v2).
	Pass       string
	NoPreempt  bool
	Unicast    []string // unicast peers; empty: multicast
	UnicastSrc string
}

// KeepalivedGlobals are global_defs settings beyond the fixed ones.
type KeepalivedGlobals struct {
	// RTPriority sets vrrp_rt_priority (SCHED_RR for the VRRP process)
	// and vrrp_no_swap (mlockall): keepalived's side of hakeeper's
	// --realtime. 0 leaves keepalived's defaults.
	RTPriority int
}

// KeepalivedConf renders a keepalived.conf for node n.
func KeepalivedConf(n *netns.Node, insts ...KeepalivedInstance) string {
	return KeepalivedConfWith(n, KeepalivedGlobals{}, insts...)
}

// KeepalivedConfWith renders a keepalived.conf with global settings.
func KeepalivedConfWith(n *netns.Node, g KeepalivedGlobals, insts ...KeepalivedInstance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  enable_script_security\n  script_user root\n", NodeName(n))
	if g.RTPriority > 0 {
		fmt.Fprintf(&b, "  vrrp_rt_priority %d\n  vrrp_no_swap\n", g.RTPriority)
	}
	b.WriteString("}\n")
	for _, in := range insts {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n  version %d\n",
			in.Name, n.Iface, in.VRID, in.Priority, in.Advert, in.Version)
		if in.NoPreempt {
			b.WriteString("  nopreempt\n")
		}
		if in.Pass != "" {
			fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", in.Pass)
		}
		if len(in.Unicast) > 0 {
			fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n", in.UnicastSrc)
			for _, p := range in.Unicast {
				fmt.Fprintf(&b, "    %s\n", p)
			}
			b.WriteString("  }\n")
		}
		b.WriteString("  virtual_ipaddress {\n")
		for _, v := range in.VIPs {
			fmt.Fprintf(&b, "    %s dev %s\n", v, n.Iface)
		}
		b.WriteString("  }\n}\n")
	}
	return b.String()
}

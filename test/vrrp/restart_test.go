package vrrp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
)

// vipRecordFile is the engine's record of the VIPs it added, in the state
// directory (vrrpd/kernel.VIPFileName).
const vipRecordFile = "vrrp-vips.json"

// startWithStateDir runs `hakeeper run` for n with a given state
// directory, so a restart finds what the killed process left there.
func startWithStateDir(t *testing.T, n *netns.Node, src, stateDir, listen string) *Hakeeper {
	t.Helper()
	p := n.Start(t, Binary(t), "run", "--node", NodeName(n), "--source", src,
		"--log-level", "debug", "--state-dir", stateDir, "--listen", listen)
	return &Hakeeper{Process: p, StateDir: stateDir}
}

// TestKilledMasterRestartsWithoutItsVIP: the master is SIGKILLed (its link
// stays up, so its VIP stays on its interface), the backup takes over
// and, for a moment, both hold the VIP. Restarted with the same state
// directory as a backup (preempt off), the killed node removes the VIP
// its previous run added, and only the new master holds it from then on.
func TestKilledMasterRestartsWithoutItsVIP(t *testing.T) {
	lab := netns.New(t, 2)
	n1, n2 := lab.Node(1), lab.Node(2)
	src := Description(t, lab, "vipGroups:\n"+group("web", 71, "10.99.0.100/24", "    nodes: [n1, n2]\n    preempt: false\n"))
	state1 := t.TempDir()
	h1 := startWithStateDir(t, n1, src, state1, "off")
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	StartHakeeper(t, n2, src)
	stays(t, lab, vip4, n1, 5*fast)

	// The master recorded the VIP it added, in its state directory.
	if b, err := os.ReadFile(filepath.Join(state1, vipRecordFile)); err != nil || !strings.Contains(string(b), `"10.99.0.100/24"`) {
		t.Fatalf("master's VIP record: %q, %v; want it to list 10.99.0.100/24", b, err)
	}

	if err := h1.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.WaitAddr(n2.Iface, vip4, true, failoverBound(fast)); err != nil {
		t.Fatalf("n2 did not take over after n1 was killed: %v", err)
	}
	if has, err := n1.HasAddr(n1.Iface, vip4); err != nil || !has {
		t.Fatalf("killed n1 holds the VIP: %v (%v); the test needs the crash to leave it behind", has, err)
	}

	sock := filepath.Join(t.TempDir(), "n1.sock")
	startWithStateDir(t, n1, src, state1, "unix:"+sock)
	d, err := lab.WaitHolder(vip4, n2, 5*time.Second)
	if err != nil {
		t.Fatalf("after n1's restart: %v", err)
	}
	t.Logf("stale VIP removed %v after the restart", d)
	// n1 is backup for good (preempt off): once it has accepted 10 of
	// n2's adverts (1s, over two Master_Down_Intervals) it has made no
	// transition but its start as backup, and n2 alone holds the VIP.
	g, err := WaitGroup(sock, "web", 15*time.Second, func(g status.VIPGroup) bool { return g.AdvertsRecv >= 10 })
	if err != nil {
		t.Fatal(err)
	}
	if g.State != "backup" || g.Transitions != 1 {
		t.Errorf("restarted n1 after %d adverts: %s with %d transitions, want backup since start", g.AdvertsRecv, g.State, g.Transitions)
	}
	stays(t, lab, vip4, n2, 10*fast)
}

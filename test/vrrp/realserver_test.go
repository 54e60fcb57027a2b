package vrrp

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
)

// realServerBody makes n2 a dr real server of two services on n1's VIPs
// (n1 runs nothing here: it is the client asking for the VIPs).
const realServerBody = `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/32, 192.0.2.11/32]
    nodes: [n1]
services:
  http:
    vip: 192.0.2.10
    port: 80
    forwarding: dr
    realServers: [{node: n2}]
  admin:
    vip: 192.0.2.11
    port: 80
    forwarding: dr
    realServers: [{node: n2}]
`

func sysctl(t *testing.T, n *netns.Node, name string) string {
	t.Helper()
	return strings.TrimSpace(n.MustExec(t, "cat", "/proc/sys/net/ipv4/conf/all/"+name))
}

// TestRealServerRun: `hakeeper plan` shows n2's real-server role, `hakeeper
// run` programs it (the client gets no ARP reply for the VIP), repairs
// drift, and, when the description no longer names n2, removes the VIP it
// added, keeps the one put on lo by hand, and restores the sysctls.
func TestRealServerRun(t *testing.T) {
	lab := netns.New(t, 2)
	client, rs := lab.Node(1), lab.Node(2)
	vip, handMade := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	src := Description(t, lab, realServerBody)
	// The kernel's defaults, whatever a new namespace inherits here.
	rs.MustExec(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore && echo 0 > /proc/sys/net/ipv4/conf/all/arp_announce")
	rs.MustExec(t, "ip", "addr", "add", handMade.String()+"/32", "dev", "lo")

	out, err := rs.Exec(Binary(t), "plan", "--node", "n2", "--state-dir", t.TempDir(), src)
	if code := exitCode(err); code != 2 {
		t.Fatalf("plan: exit %d (%v), want 2 (changes pending):\n%s", code, err, out)
	}
	for _, want := range []string{
		"# real-server role of n2",
		"~ sysctl net.ipv4.conf.all.arp_ignore\n      value = 0 -> 1",
		"+ real-server-vip 192.0.2.10/32 on lo\n      services = http",
		"# real-server-vip 192.0.2.11/32 on lo", // the hand-made one: a note
		"Plan: 1 to add, 2 to change, 0 to destroy.",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}

	h := StartHakeeperArgs(t, rs, src, []string{"--interval", "100ms"})
	if _, err := rs.WaitAddr("lo", vip, true, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, h.Output())
	}
	if a, b := sysctl(t, rs, "arp_ignore"), sysctl(t, rs, "arp_announce"); a != "1" || b != "2" {
		t.Fatalf("arp_ignore %s, arp_announce %s", a, b)
	}
	if answered, err := client.ARPAnswered(vip, rs.Addr.Addr(), rs.MAC); err != nil || answered {
		t.Fatalf("ARP reply for the VIP from the real server: %v, %v", answered, err)
	}
	// Planned with the daemon's record, the node is in sync.
	if out, err := rs.Exec(Binary(t), "plan", "--node", "n2", "--state-dir", h.StateDir, src); err != nil || !strings.Contains(string(out), "No changes.") {
		t.Fatalf("plan after run: %v\n%s", err, out)
	}

	// Drift: the VIP deleted and arp_ignore reset by hand come back.
	rs.MustExec(t, "ip", "addr", "del", vip.String()+"/32", "dev", "lo")
	rs.MustExec(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore")
	if _, err := rs.WaitAddr("lo", vip, true, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, h.Output())
	}
	waitSysctl(t, rs, "arp_ignore", "1")

	// n2 is no real server any more.
	body := strings.ReplaceAll(realServerBody, "{node: n2}", "{address: 10.99.0.12}")
	if err := os.WriteFile(src, []byte("cluster: hkv-test\n"+NodesYAML(lab)+body), 0o644); err != nil {
		t.Fatal(err)
	}
	waitSysctl(t, rs, "arp_ignore", "0")
	waitSysctl(t, rs, "arp_announce", "0")
	if has, _ := rs.HasAddr("lo", vip); has {
		t.Fatalf("the VIP hakeeper added is still on lo\n%s", h.Output())
	}
	if has, _ := rs.HasAddr("lo", handMade); !has {
		t.Fatalf("the VIP put on lo by hand was removed\n%s", h.Output())
	}
	h.Stop(t)
}

func waitSysctl(t *testing.T, n *netns.Node, name, want string) {
	t.Helper()
	var got string
	err := netlab.Wait(context.Background(), 20*time.Second, 20*time.Millisecond, func() (bool, error) {
		got = sysctl(t, n, name)
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("%s is %s, want %s: %v", name, got, want, err)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}

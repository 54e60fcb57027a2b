package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// rawVRRPSocket opens a raw IPv4 socket for protocol 112 in node n's
// namespace, sending multicast out of its lab interface with TTL 255 (as
// a VRRP router would): a host on the segment that is not one of ours.
// The test's thread is in n's namespace only while the socket is made.
func rawVRRPSocket(t *testing.T, n *netns.Node) int {
	t.Helper()
	h, err := n.Handle()
	if err != nil {
		t.Fatal(err)
	}
	link, err := h.LinkByName(n.Iface)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := inNamespace(n.Name, func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, packet.Protocol)
	})
	if err != nil {
		t.Fatalf("raw VRRP socket in %s: %v", n.Name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, o := range []struct{ opt, v int }{{unix.IP_MULTICAST_TTL, 255}, {unix.IP_TTL, 255}, {unix.IP_MULTICAST_LOOP, 0}} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, o.opt, o.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(link.Attrs().Index)}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// inNamespace runs open on a thread switched into namespace ns and back.
// A thread that cannot be switched back is left locked, so the runtime
// ends it with the goroutine instead of reusing it.
func inNamespace(ns string, open func() (int, error)) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			done <- result{-1, err}
			return
		}
		defer orig.Close()
		target, err := vnetns.GetFromName(ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		defer target.Close()
		if err := vnetns.Set(target); err != nil {
			done <- result{-1, err}
			return
		}
		fd, err := open()
		if vnetns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// metricOr0 reads a series' value from a /metrics text; a counter of a
// labelled family that never counted is absent, which reads 0.
func metricOr0(metrics, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// lines counts the lines of a file (0 when it does not exist).
func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestZeroIntervalFlood: a third host on the segment floods adverts for
// the group's VRID with the highest priority and Max Advert Interval 0.
// Learned, that interval made Master_Down_Interval 0 and both nodes
// flipped state (and ran their notify hooks) at the attacker's packet
// rate. Both nodes drop and count them as bad-interval; neither changes
// state nor runs a hook, and the master keeps the VIP.
func TestZeroIntervalFlood(t *testing.T) {
	lab := netns.New(t, 3)
	n1, n2, attacker := lab.Node(1), lab.Node(2), lab.Node(3)
	hooks := t.TempDir()
	// One description for all nodes: hooks tell nodes apart by the
	// namespace they run in. The comment sign keeps the arguments the
	// engine appends away from the file name.
	hook := func(state string) string {
		return fmt.Sprintf(`"echo %s >> %s/$(ip netns identify) #"`, state, hooks)
	}
	// 1s adverts: what is tested is that nothing changes state, and a
	// Master_Down_Interval over 3s keeps a daemon starved of CPU for a
	// while (2 shared cores) from passing for a dead master.
	src := Description(t, lab, fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    priorities: {n1: 200, n2: 100}
    advertInterval: 1s
    garp: {refreshDelay: 0s}
    notify: {master: %s, backup: %s, fault: %s}
`, hook("master"), hook("backup"), hook("fault")))
	socks := map[*netns.Node]string{}
	for _, n := range []*netns.Node{n1, n2} {
		socks[n] = filepath.Join(t.TempDir(), n.Name+".sock")
	}
	StartHakeeperArgs(t, n1, src, []string{"--listen", "unix:" + socks[n1]})
	mustHolder(t, lab, vip4, n1, failoverBound(time.Second)+2*time.Second)
	backup := StartHakeeperArgs(t, n2, src, []string{"--listen", "unix:" + socks[n2]})
	if err := backup.WaitStatus(`"state": "backup"`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Each node's first hook (master, backup) has run.
	hookFile := func(n *netns.Node) string { return filepath.Join(hooks, n.Name) }
	for deadline := time.Now().Add(10 * time.Second); lines(hookFile(n1)) < 1 || lines(hookFile(n2)) < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("start-up hooks did not run: n1 %d, n2 %d lines", lines(hookFile(n1)), lines(hookFile(n2)))
		}
	}
	const (
		transitions = `hakeeper_vrrp_transitions_total{group="web"}`
		badInterval = `hakeeper_vrrp_drops_total{group="web",reason="bad-interval"}`
	)
	before := map[*netns.Node]string{n1: scrape(t, socks[n1]), n2: scrape(t, socks[n2])}
	hooksBefore := map[*netns.Node]int{n1: lines(hookFile(n1)), n2: lines(hookFile(n2))}

	evil, err := packet.Encode(&packet.Advert{Version: 3, VRID: 51, Priority: 254, Interval: 0, Addrs: []netip.Addr{vip4}},
		attacker.Addr.Addr(), packet.Group4)
	if err != nil {
		t.Fatal(err)
	}
	fd := rawVRRPSocket(t, attacker)
	group := &unix.SockaddrInet4{Addr: packet.Group4.As4()}
	// About 2000 adverts a second for 3 seconds, in bursts of 10.
	sent := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		for range 10 {
			err := unix.Sendto(fd, evil, 0, group)
			switch {
			case err == unix.ENOBUFS:
				// The attacker's own queue is full: a flood all the same.
			case err != nil:
				t.Fatalf("sending from %s: %v", attacker.Name, err)
			default:
				sent++
			}
		}
	}
	t.Logf("%s sent %d adverts with Max Advert Interval 0", attacker.Name, sent)

	// The engines have handled the flood once their drop counters stop
	// rising; only then does the absence of transitions mean anything.
	for _, n := range []*netns.Node{n1, n2} {
		prev := -1.0
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			after := scrape(t, socks[n])
			got := metricOr0(after, badInterval) - metricOr0(before[n], badInterval)
			if got > 0 && got == prev {
				t.Logf("%s dropped %v as bad-interval", n.Name, got)
				if tr := metricOr0(after, transitions) - metricOr0(before[n], transitions); tr != 0 {
					t.Errorf("%s made %v state transitions during the flood, want none", n.Name, tr)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v bad-interval drops (last %v) and still rising or none, after %d sent; transitions +%v",
					n.Name, got, prev, sent, metricOr0(after, transitions)-metricOr0(before[n], transitions))
			}
			prev = got
		}
	}
	// Hooks are queued by transitions, which the counters above show
	// there were none of; the files confirm no hook ran meanwhile.
	for _, n := range []*netns.Node{n1, n2} {
		if got := lines(hookFile(n)) - hooksBefore[n]; got != 0 {
			b, _ := os.ReadFile(hookFile(n))
			t.Errorf("%s ran %d notify hooks during the flood:\n%s", n.Name, got, b)
		}
	}
	stays(t, lab, vip4, n1, 3*fast)
}

// TestSplitBrainWrongPassword: one node has another VRRPv2 password, so
// each rejects the other's adverts and both hold the VIP. Neither is
// silent about it: each node's /status is not healthy and names the
// split brain, `hakeeper status` exits 2 and prints it under the group,
// and /metrics has hakeeper_vrrp_split_brain_suspected at 1. Once the
// password is fixed, one master remains and the suspicion clears within
// its hold time. The peer is hakeeper, then keepalived.
func TestSplitBrainWrongPassword(t *testing.T) {
	for _, peer := range []string{"hakeeper", "keepalived"} {
		t.Run(peer, func(t *testing.T) {
			lab := netns.New(t, 2)
			if peer == "keepalived" {
				netns.SkipNoKeepalived(t)
			}
			n1, n2 := lab.Node(1), lab.Node(2)
			c := interopCase{desc: "v2-pass-1s", version: 2, adv: time.Second, kaAdv: "1", pass: "hkvpass"}
			src := c.description(t, lab, 200, 100)
			sock := filepath.Join(t.TempDir(), "n1.sock")
			StartHakeeperArgs(t, n1, src, []string{"--listen", "unix:" + sock}, c.env()...)
			mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)

			wrong := c
			wrong.pass = "other"
			var stopPeer func()
			var peerSock string
			switch peer {
			case "hakeeper":
				peerSock = filepath.Join(t.TempDir(), "n2.sock")
				h := StartHakeeperArgs(t, n2, src, []string{"--listen", "unix:" + peerSock}, wrong.env()...)
				stopPeer = func() { h.Stop(t) }
			case "keepalived":
				ka := n2.StartKeepalived(t, wrong.keepalived(n2, n1, 100))
				stopPeer = func() {
					if err := ka.Stop(); err != nil {
						t.Fatal(err)
					}
					if _, err := ka.Wait(10 * time.Second); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := n2.WaitAddr(n2.Iface, vip4, true, failoverBound(c.adv)+2*time.Second); err != nil {
				t.Fatalf("the node with the other password did not take the VIP too: %v", err)
			}
			if h, err := lab.Holders(vip4); err != nil || len(h) != 2 {
				t.Fatalf("%d nodes hold the VIP (%v), want both", len(h), err)
			}

			socks := []string{sock}
			if peerSock != "" {
				socks = append(socks, peerSock)
			}
			for i, s := range socks {
				from := []*netns.Node{n2, n1}[i]
				r := waitReport(t, s, 10*time.Second, func(r *status.Report) bool { return !r.Healthy && splitBrainOf(r) != "" })
				if sb := splitBrainOf(r); !strings.Contains(sb, "bad-auth") || !strings.Contains(sb, from.Addr.Addr().String()) {
					t.Errorf("split brain %q, want adverts rejected for bad-auth from %s", sb, from.Addr.Addr())
				}
				if !strings.Contains(r.Degraded, "group web: split-brain suspected") {
					t.Errorf("degraded %q, want it to name the split brain of group web", r.Degraded)
				}
				if v := metricOr0(scrape(t, s), `hakeeper_vrrp_split_brain_suspected{group="web"}`); v != 1 {
					t.Errorf("hakeeper_vrrp_split_brain_suspected{group=\"web\"} = %v, want 1", v)
				}
				if v := metricOr0(scrape(t, s), `hakeeper_vrrp_drops_total{group="web",reason="bad-auth"}`); v < 1 {
					t.Errorf("bad-auth drops %v, want some", v)
				}
				out, err := exec.Command(Binary(t), "status", "--addr", "unix:"+s).CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "SPLIT BRAIN: split-brain suspected") {
					t.Errorf("hakeeper status: %v, want exit 2 with the split brain under the group:\n%s", err, out)
				}
			}

			// Fix the password: one master, and the suspicion clears once
			// no advert has been rejected for its hold time (5 s with 1 s
			// adverts: vrrpd.splitBrainHold), plus room for a loaded
			// machine.
			stopPeer()
			switch peer {
			case "hakeeper":
				StartHakeeperArgs(t, n2, src, []string{"--listen", "unix:" + peerSock}, c.env()...)
			case "keepalived":
				n2.StartKeepalived(t, c.keepalived(n2, n1, 100))
			}
			mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)
			// n1 suspected split brain and must clear it; the restarted
			// peer never saw a rejected advert, so it would prove nothing.
			for _, s := range []string{sock} {
				r := waitReport(t, s, 5*time.Second+10*time.Second, func(r *status.Report) bool { return r.Healthy })
				if sb := splitBrainOf(r); sb != "" {
					t.Errorf("healthy report still shows split brain %q", sb)
				}
				if v := metricOr0(scrape(t, s), `hakeeper_vrrp_split_brain_suspected{group="web"}`); v != 0 {
					t.Errorf("split-brain gauge %v after the fix, want 0", v)
				}
			}
			stays(t, lab, vip4, n1, 3*time.Second)
		})
	}
}

// waitReport polls the daemon's /status on sock until ok holds.
func waitReport(t *testing.T, sock string, timeout time.Duration, ok func(*status.Report) bool) *status.Report {
	t.Helper()
	c := status.NewClient("unix:" + sock)
	var last *status.Report
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := c.Status(ctx)
		cancel()
		if err != nil {
			continue
		}
		last = r
		if ok(r) {
			return r
		}
	}
	t.Fatalf("%s: /status never showed what was awaited in %v; last: healthy %v, degraded %q, groups %+v",
		sock, timeout, last != nil && last.Healthy, degradedOf(last), groupsOf(last))
	return nil
}

func degradedOf(r *status.Report) string {
	if r == nil {
		return ""
	}
	return r.Degraded
}

func groupsOf(r *status.Report) []status.VIPGroup {
	if r == nil {
		return nil
	}
	return r.VIPGroups
}

// splitBrainOf is group web's split-brain text.
func splitBrainOf(r *status.Report) string {
	for _, g := range r.VIPGroups {
		if g.Name == "web" {
			return g.SplitBrain
		}
	}
	return ""
}

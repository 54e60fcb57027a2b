package controller_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
)

// rolloutCluster is three nodes in one VIP group, n1 preferred; extra is
// added to the group (VIPs, tracked checks) and checks is the top-level
// checks section.
func rolloutCluster(vips, extra, checks string) string {
	return `cluster: rollout
nodes:
  n1: {address: 10.99.0.11, interface: eth0}
  n2: {address: 10.99.0.12, interface: eth0}
  n3: {address: 10.99.0.13, interface: eth0}
` + checks + `vipGroups:
  web:
    vrid: 62
    vips: [` + vips + `]
    nodes: [n1, n2, n3]
    advertInterval: 100ms
` + extra
}

// Three `hakeeper run` follow one Git repository with the peer channel
// on. A change to the group is applied by the backups first and by the
// master once they report it settled; a bad change (a tracked check that
// fails on every node) is applied by the backups, rolled back there and
// never applied by the master; blocking VRRP adverts into one backup makes a
// split brain that `status --cluster` and the metric show; with the
// peers gone and an attacker answering at one's address with a
// certificate the cluster's CA did not issue, the master applies after
// the bounded wait, the attacker's claim ignored.
func TestE2ERolloutThreeNodes(t *testing.T) {
	lab := netns.New(t, 4) // n4 is the attacker; skips unless root
	bin := binary(t)
	repo := gitserver.New(t)
	// The nodes fetch over the segment from a real Git server, git
	// http-backend on an address of the lab's own.
	git := repo.ServeHTTPOn(lab.ListenService(t), "")
	url := git.URL
	c1 := repo.CommitFile("start", "cluster.yaml", rolloutCluster("10.99.0.100/24", "", ""))
	ca := gitserver.NewCA(t, "rollout CA")
	vip, vip2 := netip.MustParseAddr("10.99.0.100"), netip.MustParseAddr("10.99.0.101")
	n1 := lab.Node(1)
	// The bounded wait is long beside what the ordered steps need (a
	// poll, an apply, the 2 s window, a poll), so in the steps before the
	// last only the backups' reports can let the master apply.
	const wait = 20 * time.Second
	procs := map[int]*netns.Process{}
	start := func(i int) {
		name := fmt.Sprintf("n%d", i)
		cert, key := ca.IssueNode(t, name)
		procs[i] = lab.Node(i).Start(t, bin, "run", "--node", name, "--source", url, "--state-dir", t.TempDir(),
			"--interval", "1s", "--poll-interval", "200ms", "--log-level", "debug",
			"--peer-ca", ca.File, "--peer-cert", cert, "--peer-key", key,
			"--peer-interval", "200ms", "--health-window", "2s", "--rollout-wait", wait.String())
	}
	for i := 1; i <= 3; i++ {
		start(i)
	}
	logs := func() string {
		var b strings.Builder
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(&b, "--- n%d:\n%s\n", i, procs[i].Output())
		}
		return b.String()
	}
	statusOf := func(n *netns.Node) *status.Report {
		out, err := n.Exec(bin, "status", "--json")
		var r status.Report
		if jerr := json.Unmarshal(out, &r); jerr != nil {
			t.Fatalf("status in %s: %v %v\n%s", n.Name, err, jerr, out)
		}
		return &r
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		if err := netlab.Wait(t.Context(), timeout, 50*time.Millisecond, func() (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, logs())
		}
	}
	// polled is statusOf for a wait's condition: a report that cannot be
	// read (the CLI timed out on a loaded machine) is nil, and the wait
	// polls again.
	polled := func(n *netns.Node) *status.Report {
		out, _ := n.Exec(bin, "status", "--json")
		var r status.Report
		if json.Unmarshal(out, &r) != nil {
			return nil
		}
		return &r
	}
	applied := func(i int, id string) bool {
		r := polled(lab.Node(i))
		return r != nil && r.Applied != nil && r.Applied.ID == id
	}
	cluster := func() (string, int) {
		out, err := n1.Exec(bin, "status", "--cluster")
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(interface{ ExitCode() int }); ok {
				code = ee.ExitCode()
			}
		}
		return string(out), code
	}
	if _, err := lab.WaitHolder(vip, n1, 15*time.Second); err != nil {
		t.Fatalf("first commit: %v\n%s", err, logs())
	}
	waitFor("status --cluster ok with every node", 15*time.Second, func() bool { _, code := cluster(); return code == 0 })
	out, _ := cluster()
	if !regexp.MustCompile(`(?m)^web\s+n1\s+ok$`).MatchString(out) {
		t.Errorf("status --cluster:\n%s", out)
	}

	// A change of the group: backups first, then the master.
	c2 := repo.CommitFile("second VIP", "cluster.yaml", rolloutCluster("10.99.0.100/24, 10.99.0.101/24", "", ""))
	waitFor("master applies the change", 15*time.Second, func() bool { return applied(1, c2) })
	if _, err := n1.WaitAddr("eth0", vip2, true, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Logged only when the backups' reports let a waiting master apply.
	if log1 := procs[1].Output(); !strings.Contains(log1, "backups applied the revision and it settled there; applying") || strings.Contains(log1, "bounded wait over") {
		t.Errorf("n1 did not apply on its backups' reports:\n%s", log1)
	}
	for i := 2; i <= 3; i++ {
		if !strings.Contains(procs[i].Output(), "revision settled") {
			t.Errorf("n%d did not settle the change before the master applied it:\n%s", i, procs[i].Output())
		}
	}
	// Each node started with an empty state directory: what it applied
	// came in a pack from the server.
	for i := 1; i <= 3; i++ {
		if a := lab.Node(i).Addr.Addr().String(); git.Fetches(a) == 0 {
			t.Errorf("n%d (%s) never fetched from %s", i, a, url)
		}
	}

	// A bad change: a tracked check failing everywhere faults the group.
	bad := `    trackChecks:
      - check: broken
`
	checks := `checks:
  broken:
    command: [/bin/false]
    interval: 200ms
`
	c3 := repo.CommitFile("a check that fails", "cluster.yaml", rolloutCluster("10.99.0.100/24, 10.99.0.101/24", bad, checks))
	// Each backup rolls it back, or, when a peer's mark reaches it
	// first, refuses it unapplied; at least one must have applied it.
	rolledBack := 0
	for i := 2; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		var mark status.BadRevision
		// Done with it: marked, on c2 and degraded (a node refusing it on
		// a peer's mark shows the mark a moment before its refusal).
		waitFor(name+" marks the bad change", 20*time.Second, func() bool {
			r := polled(lab.Node(i))
			if r == nil || r.Rollout == nil || r.Applied == nil {
				return false
			}
			j := slices.IndexFunc(r.Rollout.Bad, func(b status.BadRevision) bool { return b.ID == c3 })
			if j >= 0 {
				mark = r.Rollout.Bad[j]
			}
			return j >= 0 && r.Applied.ID == c2 && !r.Healthy
		})
		r := statusOf(lab.Node(i))
		if r.Healthy || !strings.Contains(r.Degraded, source.ShortID(c3)) {
			t.Errorf("%s after the bad change: healthy %v, degraded %q", name, r.Healthy, r.Degraded)
		}
		if mark.By != name {
			continue
		}
		rolledBack++
		if !strings.Contains(r.Degraded, "tracked check broken fails") {
			t.Errorf("%s: degraded %q does not say why", name, r.Degraded)
		}
		if !strings.Contains(procs[i].Output(), `rolling back" revision=`+source.ShortID(c3)) {
			t.Errorf("%s did not log the rollback with the commit", name)
		}
		metrics, _ := lab.Node(i).Exec("curl", "-s", "http://127.0.0.1:9110/metrics")
		if !strings.Contains(string(metrics), "hakeeper_rollout_rollbacks_total 1") ||
			!strings.Contains(string(metrics), `hakeeper_rollout_bad_revision{by="`+name+`",revision="`+c3+`"} 1`) {
			t.Errorf("%s metrics lack the rollback:\n%s", name, metrics)
		}
	}
	if rolledBack == 0 {
		t.Errorf("no backup applied and rolled back the bad change\n%s", logs())
	}
	waitFor("the master marks the change bad from its peers' reports", 10*time.Second, func() bool {
		r := polled(n1)
		return r != nil && r.Rollout != nil && slices.ContainsFunc(r.Rollout.Bad, func(b status.BadRevision) bool { return b.ID == c3 && b.By != "n1" })
	})
	if r := statusOf(n1); r.Applied.ID != c2 || strings.Contains(procs[1].Output(), "revision="+source.ShortID(c3)+" summary") {
		t.Errorf("n1 applied the bad revision: applied %s\n%s", r.Applied.ID, procs[1].Output())
	}
	if h, _ := lab.Holders(vip); len(h) != 1 || h[0] != n1 {
		t.Errorf("VIP held by %v after the bad change, want n1 alone", h)
	}

	// Split brain: n2 stops hearing VRRP and takes the VIPs too.
	n2 := lab.Node(2)
	// The bridge stops flooding multicast (the adverts) to n2; the peer
	// channel, unicast TCP, still flows.
	if err := lab.SetMulticastFlood(n2, false); err != nil {
		t.Fatal(err)
	}
	waitFor("status --cluster shows the split brain", 15*time.Second, func() bool {
		out, code := cluster()
		return code == 2 && regexp.MustCompile(`(?m)^web\s+n1, n2\s+split brain$`).MatchString(out)
	})
	metrics, _ := n1.Exec("curl", "-s", "http://127.0.0.1:9110/metrics")
	if !strings.Contains(string(metrics), `hakeeper_cluster_vip_masters{group="web"} 2`) {
		t.Errorf("n1 metrics during the split brain:\n%s", metrics)
	}
	if err := lab.SetMulticastFlood(n2, true); err != nil {
		t.Fatal(err)
	}
	waitFor("one master again", 15*time.Second, func() bool { _, code := cluster(); return code == 0 })

	// The peers go; an attacker answers at n3's address with a report
	// saying the next revision was rolled back there, under a
	// certificate for "n3" from a CA of its own.
	for i := 2; i <= 3; i++ {
		procs[i].Signal(syscall.SIGTERM)
		if code, err := procs[i].Wait(15 * time.Second); err != nil || code != 0 {
			t.Fatalf("n%d stop: exit %d %v", i, code, err)
		}
	}
	n3, n4 := lab.Node(3), lab.Node(4)
	n3.MustExec(t, "ip", "addr", "del", "10.99.0.13/24", "dev", "eth0")
	n4.MustExec(t, "ip", "addr", "add", "10.99.0.13/24", "dev", "eth0")
	// As an attacker would announce itself; here n1 just forgets n3's MAC.
	n1.MustExec(t, "ip", "neigh", "flush", "to", "10.99.0.13")
	c4 := repo.CommitFile("third VIP", "cluster.yaml", rolloutCluster("10.99.0.100/24, 10.99.0.101/24, 10.99.0.102/24", "", ""))
	evil := gitserver.NewCA(t, "attacker CA")
	ecert, ekey := evil.IssueNode(t, "n3")
	pair, err := tls.LoadX509KeyPair(ecert, ekey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := n4.Listen("10.99.0.13:9111")
	if err != nil {
		t.Fatal(err)
	}
	fake := &status.Report{Node: "n3", Healthy: true, Applied: &status.Revision{ID: c4},
		Rollout:   &status.Rollout{Settled: true, Bad: []status.BadRevision{{ID: c4, By: "n3", Reason: "faked"}}},
		VIPGroups: []status.VIPGroup{{Name: "web", State: "master"}}}
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(fake)
		}),
	}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	// Nor can the attacker read a node's report without a certificate.
	if out, err := n4.Exec("curl", "-sk", "--max-time", "5", "https://10.99.0.11:9111/status"); err == nil {
		t.Errorf("a client without a certificate read n1's peer report:\n%s", out)
	}
	waitFor("the master applies after the bounded wait", wait+20*time.Second, func() bool { return applied(1, c4) })
	r := statusOf(n1)
	if !slices.Equal(r.Rollout.Unconfirmed, []string{"n2", "n3"}) {
		t.Errorf("n1's status does not say which backups the wait ended without: %+v", r.Rollout)
	}
	if out, _ := n1.Exec(bin, "status"); !strings.Contains(string(out), "without reports from n2, n3") {
		t.Errorf("status:\n%s", out)
	}
	if slices.ContainsFunc(r.Rollout.Bad, func(b status.BadRevision) bool { return b.ID == c4 }) {
		t.Errorf("n1 believed the attacker: %+v", r.Rollout.Bad)
	}
	i := slices.IndexFunc(r.Rollout.Peers, func(p status.Peer) bool { return p.Node == "n3" })
	if i < 0 || r.Rollout.Peers[i].Reachable || !strings.Contains(r.Rollout.Peers[i].Error, "certificate") {
		t.Errorf("n1's view of n3 (the attacker): %+v", r.Rollout.Peers)
	}
	if !strings.Contains(procs[1].Output(), `bounded wait over: applying without every backup's report" revision=`+source.ShortID(c4)) {
		t.Errorf("n1 did not say it applied after the bounded wait:\n%s", procs[1].Output())
	}
	metrics, _ = n1.Exec("curl", "-s", "http://127.0.0.1:9110/metrics")
	for _, want := range []string{"hakeeper_rollout_wait_expired_total 1", `hakeeper_peer_up{peer="n2"} 0`, `hakeeper_peer_up{peer="n3"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("n1 metrics lack %q:\n%s", want, metrics)
		}
	}
	_ = c1
}

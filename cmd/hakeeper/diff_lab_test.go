package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
)

// reviewLab is the three-node lab's description: web's node order is
// the argument, api is on n2 then n3; extra is appended.
func reviewLab(webOrder, extra string) string {
	return `cluster: review-lab
defaults:
  vrrp:
    advertInterval: 100ms
nodes:
  n1: {address: 10.99.0.11, interface: eth0}
  n2: {address: 10.99.0.12, interface: eth0}
  n3: {address: 10.99.0.13, interface: eth0}
vipGroups:
  web:
    vrid: 71
    vips: [10.99.0.100/24]
    nodes: [` + webOrder + `]
  api:
    vrid: 72
    vips: [10.99.0.101/24]
    nodes: [n2, n3]
` + extra
}

// holderLog polls who holds each VIP and records every change, so a
// test can tell that a VIP diff did not list never moved.
type holderLog struct {
	mu      sync.Mutex
	changes map[netip.Addr][]string
	stop    chan struct{}
	done    chan struct{}
}

func watchHolders(t *testing.T, lab *netns.Lab, vips ...netip.Addr) *holderLog {
	h := &holderLog{changes: map[netip.Addr][]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	last := map[netip.Addr]string{}
	poll := func() {
		for _, v := range vips {
			nodes, err := lab.Holders(v)
			if err != nil {
				continue
			}
			var names []string
			for _, n := range nodes {
				names = append(names, "n"+string(rune('0'+n.Index)))
			}
			if s := strings.Join(names, "+"); s != last[v] {
				last[v] = s
				h.mu.Lock()
				h.changes[v] = append(h.changes[v], s)
				h.mu.Unlock()
			}
		}
	}
	// The holders at the start are recorded before watchHolders returns,
	// so a mark taken next counts only later changes.
	poll()
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			poll()
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *holderLog) close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// since returns the holders seen for vip from the index mark on.
func (h *holderLog) since(vip netip.Addr, mark int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.changes[vip][mark:])
}

func (h *holderLog) mark(vip netip.Addr) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.changes[vip])
}

// predictedHolders is who `hakeeper simulate` says holds each VIP of a
// description with every node healthy.
func predictedHolders(t *testing.T, description string) map[netip.Addr]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(description), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "simulate", "--json", path)
	if code != exitOK {
		t.Fatalf("simulate: exit %d\n%s", code, errOut)
	}
	var sim struct {
		Groups []struct {
			VIPs  []string
			After string
		}
	}
	if err := json.Unmarshal([]byte(out), &sim); err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]string{}
	for _, g := range sim.Groups {
		for _, v := range g.VIPs {
			want[netip.MustParsePrefix(v).Addr()] = g.After
		}
	}
	return want
}

// diffMoves runs `hakeeper diff --json` between the repository's last two
// commits and returns its VIP moves.
func diffMoves(t *testing.T, repo string) []struct{ Group, From, To, Reason string } {
	t.Helper()
	code, out, errOut := runCLI(t, "diff", "--repo", repo, "--json", "HEAD~1", "HEAD")
	if code != exitChanges {
		t.Fatalf("diff: exit %d, want 2\n%s%s", code, out, errOut)
	}
	var d struct {
		VIPMoves []struct{ Group, From, To, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	return d.VIPMoves
}

// Three `hakeeper run` follow one Git repository. A commit that moves a
// VIP shows in `hakeeper diff` (from, to, why) and then happens exactly
// as shown: every VIP ends on the node predicted, and the VIP diff did
// not list never changes holder. An unrelated commit moves no VIP, as
// diff says. No IPVS on this kernel: the real-server variant of the
// unrelated change needs the VM lab.
func TestDiffPredictsLab(t *testing.T) {
	lab := netns.New(t, 3) // skips unless root
	gitserver.NeedGit(t)
	bin := demoBinary(t, t.TempDir())
	repo := gitserver.New(t)
	c1 := reviewLab("n1, n2, n3", "")
	repo.CommitFile("web on n1", "cluster.yaml", c1)
	web, api := netip.MustParseAddr("10.99.0.100"), netip.MustParseAddr("10.99.0.101")
	// The nodes fetch over the segment from a real Git server, git
	// http-backend on an address of the lab's own.
	git := repo.ServeHTTPOn(lab.ListenService(t), "")

	var procs []*netns.Process
	for i, n := range lab.Nodes {
		procs = append(procs, n.Start(t, bin, "run", "--node", "n"+string(rune('1'+i)), "--source", git.URL,
			"--state-dir", t.TempDir(), "--interval", "1s", "--poll-interval", "200ms"))
	}
	byName := map[string]*netns.Node{"n1": lab.Node(1), "n2": lab.Node(2), "n3": lab.Node(3)}
	groupOf := map[netip.Addr]string{web: "web", api: "api"}
	addrOf := map[string]string{"n1": "10.99.0.11", "n2": "10.99.0.12", "n3": "10.99.0.13"}
	// converge waits until each VIP is held by its predicted node alone
	// and the election is over: every node of each group reports the
	// predicted holder as the group's master (itself master, the others
	// backup). Holders alone are no such evidence: nodes started together
	// all time out near the same instant, and on a loaded machine a lower
	// priority one can also take the VIP at start-up, beside the predicted
	// node, until that node's adverts reach it.
	converge := func(want map[netip.Addr]string) {
		t.Helper()
		master := map[string]string{}
		for vip, node := range want {
			master[groupOf[vip]] = node
		}
		var last []byte
		err := netlab.Wait(t.Context(), 20*time.Second, 50*time.Millisecond, func() (bool, error) {
			for i, n := range lab.Nodes {
				name := "n" + string(rune('1'+i))
				out, _ := n.Exec(bin, "status", "--json")
				last = append([]byte(name+": "), out...)
				var r status.Report
				if json.Unmarshal(out, &r) != nil {
					return false, nil
				}
				for _, g := range r.VIPGroups {
					m, ok := master[g.Name]
					if !ok {
						continue
					}
					if m == name && g.State != "master" || m != name && (g.State != "backup" || g.Master != addrOf[m]) {
						return false, nil
					}
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("election for %v not over: %v; last report:\n%s", master, err, last)
		}
		for vip, node := range want {
			if _, err := lab.WaitHolder(vip, byName[node], 20*time.Second); err != nil {
				t.Fatalf("%v", err)
			}
		}
	}
	// Every node reports the commit applied; then a VIP that is going to
	// move has had three master-down intervals (3×100ms + skew < 0.4s)
	// to do so.
	settle := func(commit string) {
		t.Helper()
		for _, n := range lab.Nodes {
			deadline := time.Now().Add(20 * time.Second)
			for {
				out, _ := n.Exec(bin, "status", "--json")
				var r status.Report
				if json.Unmarshal(out, &r) == nil && r.Applied != nil && r.Applied.ID == commit {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not apply %s:\n%s", n.Name, commit, out)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		time.Sleep(3 * 400 * time.Millisecond)
	}
	converge(predictedHolders(t, c1))
	log := watchHolders(t, lab, web, api)

	// The change: web prefers n3.
	c2 := reviewLab("n3, n1, n2", "")
	webMark, apiMark := log.mark(web), log.mark(api)
	commit2 := repo.CommitFile("web to n3", "cluster.yaml", c2)
	moves := diffMoves(t, repo.Dir)
	if len(moves) != 1 || moves[0].Group != "web" || moves[0].From != "n1" || moves[0].To != "n3" || moves[0].Reason != "priority" {
		t.Fatalf("diff shows %+v, want web moving n1 -> n3 for priority", moves)
	}
	want := predictedHolders(t, c2)
	if want[web] != "n3" || want[api] != "n2" {
		t.Fatalf("predicted holders %v", want)
	}
	converge(want)
	settle(commit2)
	for vip, node := range want {
		if h, _ := lab.Holders(vip); len(h) != 1 || h[0] != byName[node] {
			t.Errorf("%s held by %v after the change, diff predicted %s", vip, h, node)
		}
	}
	if seen := log.since(api, apiMark); len(seen) != 0 {
		t.Errorf("api's VIP, which diff did not list, changed holder: %v", seen)
	}
	if seen := log.since(web, webMark); len(seen) == 0 || seen[len(seen)-1] != "n3" || slices.Contains(seen, "n2") {
		t.Errorf("web's VIP went through %v, want it to end on n3 and never visit n2", seen)
	}

	// An unrelated change (announcements of api) moves nothing.
	webMark, apiMark = log.mark(web), log.mark(api)
	commit3 := repo.CommitFile("api: fewer announcements", "cluster.yaml", reviewLab("n3, n1, n2", "    garp: {repeat: 2}\n"))
	if moves := diffMoves(t, repo.Dir); len(moves) != 0 {
		t.Fatalf("diff shows %+v for an unrelated change, want no move", moves)
	}
	settle(commit3)
	for _, vip := range []netip.Addr{web, api} {
		if seen := log.since(vip, map[netip.Addr]int{web: webMark, api: apiMark}[vip]); len(seen) != 0 {
			t.Errorf("%s changed holder after an unrelated change: %v", vip, seen)
		}
	}
	// Each node started with an empty state directory: the commits it
	// applied came in packs from the server.
	for _, n := range lab.Nodes {
		if a := n.Addr.Addr().String(); git.Fetches(a) < 3 {
			t.Errorf("%s (%s) fetched %d times from %s, want one per commit (3)", n.Name, a, git.Fetches(a), git.URL)
		}
	}
	for _, p := range procs {
		if p.Exited() {
			t.Errorf("%s exited: %v\n%s", p.Node.Name, p.Err(), p.Output())
		}
	}
}

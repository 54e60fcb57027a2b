package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/test/gitserver"
	"github.com/hakeeper/hakeeper/test/netns"
)

func reportMedian(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	med := lat[len(lat)/2]
	b.ReportMetric(float64(med.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
	b.Logf("n=%d median %v p90 %v max %v", len(lat), med, lat[len(lat)*9/10], lat[len(lat)-1])
}

// BenchmarkDirSaveToFakeIPVS: a save in the watched directory until the
// in-process controller has written the new weight to a FAKE IPVS table;
// includes the source's 50ms debounce. No kernel: it isolates the
// source and controller's share of BenchmarkDirSaveToKernelVIP.
func BenchmarkDirSaveToFakeIPVS(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "cluster.d")
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(file, []byte(defaultCluster()), 0o644)
	n := newNodeFrom(b, source.NewDir(dir), b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	runLoop(b, n)
	waitWatching(b, n, dir)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		w := uint32(i%50 + 2)
		start := time.Now()
		os.WriteFile(file, []byte(cluster("192.0.2.100/24", "1s", int(w))), 0o644)
		waitFor(b, "the save to be applied", func() bool { return n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] == w })
		lat = append(lat, time.Since(start))
		if i%50 == 48 { // keep consecutive weights distinct
			i++
		}
	}
	reportMedian(b, lat)
}

// BenchmarkGitWebhookToFakeIPVS: git commit, webhook POST, until the
// in-process controller has written the new weight to a FAKE IPVS table;
// fetched over a local git daemon. No kernel: it isolates the source and
// controller's share of BenchmarkGitWebhookToKernelVIP.
func BenchmarkGitWebhookToFakeIPVS(b *testing.B) {
	repo := gitserver.New(b)
	repo.CommitFile("start", "cluster.yaml", defaultCluster())
	g, err := source.NewGit(source.GitOptions{URL: repo.Daemon(), StateDir: b.TempDir(), Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	n := newNodeFrom(b, g, b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	runLoop(b, n)
	secret := []byte("bench")
	srv := httptest.NewServer(&source.Webhook{Secret: secret, Trigger: func() { n.ctl.Trigger("webhook") }})
	defer srv.Close()
	body := []byte(`{"ref":"refs/heads/main"}`)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		w := uint32(i%1000 + 2)
		start := time.Now()
		repo.CommitFile("weight", "cluster.yaml", cluster("192.0.2.100/24", "1s", int(w)))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", source.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		waitFor(b, "the commit to be applied", func() bool { return n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] == w })
		lat = append(lat, time.Since(start))
	}
	reportMedian(b, lat)
}

// The kernel benchmarks below time what the issue asks for: from a save
// (or a commit and its webhook) to the change in the kernel, through the
// whole daemon. `hakeeper run` runs in a one-node namespace lab as
// master of a group; each iteration swaps the group's second VIP for a
// new address, which a master adds at once (no state change), and the
// time is taken from the rtnetlink notification of that address in the
// namespace, received by the benchmark's own subscription.

// kernelBenchVIP is the group's first VIP, the same in every revision.
var kernelBenchVIP = netip.MustParseAddr("10.99.0.100")

// kernelBenchExtra is the second VIP of revision i: a different address
// from one revision to the next (10.99.0.101 to .200).
func kernelBenchExtra(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, 0, byte(101 + i%100)})
}

// kernelBenchCluster is a one-node cluster whose node n1 (the lab's
// node 1) is master of one group holding the first VIP and extra.
func kernelBenchCluster(extra netip.Addr) string {
	return fmt.Sprintf(`cluster: bench
nodes:
  n1: {address: 10.99.0.11, interface: eth0}
vipGroups:
  web:
    vrid: 71
    vips: [%s/24, %s/24]
    nodes: [n1]
    advertInterval: 100ms
`, kernelBenchVIP, extra)
}

// kernelBench is a running daemon in a one-node lab and the address
// notifications of its namespace.
type kernelBench struct {
	b     *testing.B
	node  *netns.Node
	watch *netns.AddrWatch
	proc  *netns.Process
	// settle is how long warmUp waits for a revision before making the
	// change again: longer than applying one takes.
	settle time.Duration
}

// newKernelBench creates the lab and starts watching its addresses;
// start runs the daemon in it.
func newKernelBench(b *testing.B) *kernelBench {
	lab := netns.New(b, 1) // skips unless root
	node := lab.Node(1)
	return &kernelBench{b: b, node: node, watch: node.WatchAddrs(b), settle: 500 * time.Millisecond}
}

func (k *kernelBench) start(args ...string) {
	k.b.Helper()
	bin := binary(k.b)
	k.proc = k.node.Start(k.b, append([]string{bin, "run", "--node", "n1", "--state-dir", k.b.TempDir(),
		"--interval", "1m", "--log-level", "info"}, args...)...)
	// A lone node is master after the master-down interval (~0.4 s).
	if _, err := k.watch.WaitAdded(kernelBenchVIP, time.Time{}, 20*time.Second); err != nil {
		k.b.Fatalf("the daemon did not become master: %v\n%s", err, k.proc.Output())
	}
}

// warmUp applies revision i, repeating change until the address shows:
// the daemon starts its directory watch and webhook listener just after
// its first pass, so the first change may come too early to be seen.
func (k *kernelBench) warmUp(i int, change func()) {
	k.b.Helper()
	deadline := time.Now().Add(20*time.Second + 4*k.settle)
	for {
		since := time.Now()
		change()
		if _, err := k.watch.WaitAdded(kernelBenchExtra(i), since, k.settle); err == nil {
			return
		}
		if time.Now().After(deadline) || k.proc.Exited() {
			k.b.Fatalf("revision %d never applied\n%s", i, k.proc.Output())
		}
	}
}

// measure times change (which makes revision i) until the kernel holds
// revision i's new address, by the notification's time.
func (k *kernelBench) measure(i int, change func()) time.Duration {
	k.b.Helper()
	start := time.Now()
	change()
	at, err := k.watch.WaitAdded(kernelBenchExtra(i), start, 10*time.Second)
	if err != nil {
		k.b.Fatalf("revision %d: %v\n%s", i, err, k.proc.Output())
	}
	return at.Sub(start)
}

// BenchmarkDirSaveToKernelVIP: a save in the watched directory until the
// new VIP is on the interface, by the kernel's address notification. The
// daemon runs in a namespace; the source's 50ms debounce is included.
// Issue 5's target: median under 100 ms.
func BenchmarkDirSaveToKernelVIP(b *testing.B) {
	k := newKernelBench(b)
	dir := filepath.Join(b.TempDir(), "cluster.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.yaml")
	save := func(i int) func() {
		return func() {
			if err := os.WriteFile(file, []byte(kernelBenchCluster(kernelBenchExtra(i))), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	save(0)()
	k.start("--source", dir, "--listen", "off")
	k.warmUp(1, save(1))
	var lat []time.Duration
	for i := 2; b.Loop(); i++ {
		lat = append(lat, k.measure(i, save(i)))
	}
	reportMedian(b, lat)
}

// BenchmarkGitWebhookToKernelVIP: a commit in the repository a git
// daemon serves, then the webhook POST, until the new VIP is on the
// interface, by the kernel's address notification. The git daemon runs
// in the node's namespace (its loopback), the webhook is posted to the
// daemon's unix socket; polling is off, so only the webhook fetches.
// Issue 5's target: median under 500 ms.
func BenchmarkGitWebhookToKernelVIP(b *testing.B) {
	benchGitWebhookToKernelVIP(newKernelBench(b), func(extra netip.Addr) map[string]string {
		return map[string]string{"cluster.yaml": kernelBenchCluster(extra)}
	})
}

// BenchmarkGitWebhookToKernelVIP10k is BenchmarkGitWebhookToKernelVIP
// with a description of 10,000 virtual services of 10 real servers each
// (modeltest.GenerateCluster on three more nodes) beside the lab's group,
// split over files of 2,000 services; each commit changes one line (the
// group's second VIP) of the file holding nodes and groups. The daemon
// loads, validates and resolves the whole description on every
// revision. This host kernel has no IPVS, and the services belong to
// groups of the other nodes, so n1 programs none of them: the figure is
// the description's size on the path from commit to kernel, not IPVS
// programming (BenchmarkIPVSSteadyState10k in the VM measures that).
// Issue 10's budget: under 2 s.
func BenchmarkGitWebhookToKernelVIP10k(b *testing.B) {
	c := modeltest.GenerateCluster(10000, 10, 3)
	c.Name = "bench"
	c.Nodes["n1"] = &model.Node{Address: "10.99.0.11", Interface: "eth0"}
	web := &model.VIPGroup{VRID: 71, Nodes: []string{"n1"}}
	advert := model.Duration(100 * time.Millisecond)
	web.AdvertInterval = &advert
	c.VIPGroups["web"] = web
	services := map[string]string{}
	split := splitCluster(b, c, 2000)
	for i := 2; i < len(split); i += 2 { // after the head file
		services[split[i]] = split[i+1]
	}
	k := newKernelBench(b)
	k.settle = 5 * time.Second
	benchGitWebhookToKernelVIP(k, func(extra netip.Addr) map[string]string {
		web.VIPs = []model.VIP{{Address: kernelBenchVIP.String() + "/24"}, {Address: extra.String() + "/24"}}
		head := *c
		head.Services = nil
		data, err := yaml.Marshal(&head)
		if err != nil {
			b.Fatal(err)
		}
		files := map[string]string{"cluster.yaml": string(data)}
		maps.Copy(files, services)
		services = nil // committed with the first revision
		return files
	})
}

// benchGitWebhookToKernelVIP runs the git webhook benchmark on k with
// the files revision returns for each second VIP (path → content; the
// first revision's files are the whole repository).
func benchGitWebhookToKernelVIP(k *kernelBench, revision func(extra netip.Addr) map[string]string) {
	b := k.b
	repo := gitserver.New(b)
	repo.Commit("start", revision(kernelBenchExtra(0)))
	base := filepath.Dir(repo.Dir)
	// The namespace has its own loopback, so the well-known port is free.
	k.node.StartEnv(b, repo.Env, "git", "daemon", "--reuseaddr", "--export-all", "--base-path="+base,
		"--listen=127.0.0.1", "--port=9418", base)
	url := "git://127.0.0.1:9418/" + filepath.Base(repo.Dir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := k.node.Exec("git", "ls-remote", url)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("git daemon in %s not serving %s: %v\n%s", k.node.Name, url, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	secret := []byte("bench-webhook-secret")
	secretFile := filepath.Join(b.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		b.Fatal(err)
	}
	// A unix socket: the path reaches into the namespace, a TCP address
	// on its loopback would not.
	sock := filepath.Join(b.TempDir(), "hakeeper.sock")
	k.start("--source", url, "--poll-interval", "1h", "--listen", "unix:"+sock, "--webhook-secret-file", secretFile)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	body := []byte(`{"ref":"refs/heads/main"}`)
	post := func() error {
		req, err := http.NewRequest(http.MethodPost, "http://hakeeper/hooks/git", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Hub-Signature-256", source.Sign(secret, body))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("webhook: %s", resp.Status)
		}
		return nil
	}
	commitAndPost := func(i int, retry bool) func() {
		committed := false
		return func() {
			if !committed {
				repo.Commit(fmt.Sprintf("revision %d", i), revision(kernelBenchExtra(i)))
				committed = true
			}
			if err := post(); err != nil && !retry {
				b.Fatal(err)
			}
		}
	}
	k.warmUp(1, commitAndPost(1, true))
	var lat []time.Duration
	for i := 2; b.Loop(); i++ {
		lat = append(lat, k.measure(i, commitAndPost(i, false)))
	}
	reportMedian(b, lat)
}

// BenchmarkSteadyState10k: one pass over the 10,000-service cluster
// (10 real servers each) with nothing to do: fetch, compare, health,
// read the IPVS table, diff; it must write nothing.
func BenchmarkSteadyState10k(b *testing.B) {
	src := &memSource{}
	src.set(splitCluster(b, modeltest.GenerateCluster(10000, 10, 3), 2000)...)
	n := newNodeNamed(b, "node-1", src, b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	n.clock.Advance(5 * time.Second)
	writes, applies := n.writes(), n.engine.applyCount()
	for b.Loop() {
		if _, err := n.ctl.Reconcile(context.Background(), "bench", true); err != nil {
			b.Fatal(err)
		}
	}
	if w, a := n.writes()-writes, n.engine.applyCount()-applies; w != 0 || a != 0 {
		b.Fatalf("steady state made %d kernel writes and %d engine applies", w, a)
	}
	b.ReportMetric(0, "writes/op")
	b.Logf("%d services, %d VRRP instances, no writes", len(n.ctl.Running().Services), len(n.ctl.Running().Instances))
}

// splitCluster writes c as a head file and files of perFile services
// each (one file may hold at most 4 MiB), as name/content pairs.
func splitCluster(b *testing.B, c *model.Cluster, perFile int) []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	marshal := func(c *model.Cluster) string {
		data, err := yaml.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	head := *c
	head.Services = nil
	out := []string{"cluster.yaml", marshal(&head)}
	for i := 0; i < len(names); i += perFile {
		part := &model.Cluster{Services: map[string]*model.Service{}}
		for _, n := range names[i:min(i+perFile, len(names))] {
			part.Services[n] = c.Services[n]
		}
		out = append(out, fmt.Sprintf("services-%02d.yaml", i/perFile), marshal(part))
	}
	return out
}

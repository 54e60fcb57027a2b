package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// The LVS part of `hakeeper demo` (--lvs): the whole LVS-DR cluster of
// one description, in test/netlab's LVS lab, the one the end-to-end test
// TestLVSLab runs. A client, two directors and three web servers; every
// director and real server runs `hakeeper run`.

// lvsDemoConfig is the demo's cluster before the third web server joins.
var lvsDemoConfig = netlab.LVSConfig{RealServers: []int{1, 2}, Advert: time.Second, CheckInterval: time.Second}

// lvsDemoSteps counts the live demo's steps (headers).
const lvsDemoSteps = 8

// demoRequest bounds one request of the client's steady traffic.
const demoRequest = 250 * time.Millisecond

func runDemoLVS(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "hakeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "source", "cluster.yaml")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(src, []byte(netlab.LVSDescription(lvsDemoConfig)), 0o644); err != nil {
		return err
	}
	why := o.liveUnavailable()
	if _, err := os.Stat("/proc/net/ip_vs"); why == "" && err != nil {
		why = "this kernel has no IPVS; `make demo` runs the LVS demo inside the QEMU VM of test/vm instead"
	}
	n := &narrator{out: stdout, start: time.Now(), steps: lvsDemoSteps, ctx: ctx}
	if why != "" {
		n.steps = 2
	}
	n.header("The LVS cluster description")
	c, err := loadCluster(src)
	if err != nil {
		return inDescription(src, err)
	}
	n.say("One description for the whole cluster: directors director1 (preferred) and director2 move VIPs %s, %s and %s;", netlab.VIPDR, netlab.VIPTun, netlab.VIPMark)
	n.say("they program %s and real servers %s, which run hakeeper too (VIP on lo, ARP sysctls).",
		plural(len(c.Services), "IPVS service"), "web1, web2")
	n.table([][]string{
		{"SERVICE", "VIRTUAL", "FORWARDING", "CHECK"},
		{"www", netlab.VIPDR.String() + ":80", "dr (direct routing)", "http every " + lvsDemoConfig.CheckInterval.String()},
		{"tun", netlab.VIPTun.String() + ":80", "tun (IPIP)", "tcp"},
		{"ftp", fmt.Sprintf("fwmark 21 = %s:%d,%d", netlab.VIPMark, netlab.MarkPorts[0], netlab.MarkPorts[1]), "dr, persistent", "tcp"},
	})
	if why != "" {
		return demoOffline(n, src, "director1", why, stdout, stderr)
	}
	if os.Getenv("HAKEEPER_IN_VM") != "" {
		n.say("Running inside the QEMU VM of test/vm (Debian's stock kernel, IPVS as modules): the host kernel has no IPVS.")
	} else {
		n.say("Running on this host's kernel, which has IPVS.")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n.ctx, n.pace = ctx, o.pace
	err = demoLVSLive(ctx, n, src, tmp, stderr)
	if ctx.Err() != nil && err != nil {
		fmt.Fprintln(stderr, "hakeeper demo: interrupted; the lab has been removed")
		return exitCodeError{exitInterrupted}
	}
	return err
}

// lvsDemo is the running LVS demo.
type lvsDemo struct {
	*demoLab
	lvs      *netlab.LVS
	byName   map[string]*demoNode
	backends map[string]*netlab.Backend
}

// waitIPVS waits until the director's IPVS has exactly servers (by
// address) in the www service, and returns when.
func (d *lvsDemo) waitIPVS(ctx context.Context, dir *netlab.Node, servers ...int) (time.Time, error) {
	want := map[netip.Addr]uint32{}
	for _, i := range servers {
		want[netip.AddrFrom4([4]byte{192, 0, 2, byte(20 + i)})] = 1
	}
	var last map[netip.Addr]uint32
	err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) {
		t, err := dir.ReadIPVS()
		if err != nil {
			return false, err
		}
		last = t.Weights(netlab.VIPDR, 80, 0)
		return maps.Equal(last, want), nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: the www service's real servers are %v, want %v: %w", dir.Name, last, want, err)
	}
	return time.Now(), nil
}

// waitHolder waits until only dir holds the VIP on its lab interface.
func (d *lvsDemo) waitHolder(ctx context.Context, dir *netlab.Node) (time.Time, error) {
	err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) {
		h, err := d.lvs.Holders(netlab.VIPDR)
		return len(h[netlab.VIPDR]) == 1 && h[netlab.VIPDR][0] == dir, err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%s alone holding %s: %w", dir.Name, netlab.VIPDR, err)
	}
	return time.Now(), nil
}

// who tallies the answers of results.
func who(results []netlab.Result) string {
	count := map[string]int{}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			continue
		}
		count[r.Answer]++
	}
	var parts []string
	for _, name := range []string{"web1", "web2", "web3"} {
		if count[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, count[name]))
		}
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("failed %d", failed))
	}
	return strings.Join(parts, ", ")
}

func since(results []netlab.Result, t time.Time) []netlab.Result {
	return slices.DeleteFunc(slices.Clone(results), func(r netlab.Result) bool { return r.Start.Before(t) })
}

// demoLVSLive runs the live steps and always tears the lab down.
func demoLVSLive(ctx context.Context, n *narrator, src, tmp string, stderr io.Writer) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the hakeeper binary: %w", err)
	}
	d := &lvsDemo{
		demoLab: &demoLab{
			dir: tmp,
			exe: exe,
			// A crash takes 3 adverts plus skew, a check verdict one
			// interval; under emulation (the VM) everything is slower.
			// Generous: the demo must not flake.
			timeout: 30*lvsDemoConfig.Advert + 30*time.Second,
		},
		byName:   map[string]*demoNode{},
		backends: map[string]*netlab.Backend{},
	}
	summary := [][]string{{"EVENT", "WHAT THE KERNELS AND THE CLIENT SHOWED", "TIME"}}
	var traffic *netlab.Traffic
	defer func() {
		if traffic != nil {
			traffic.Stop()
		}
		for _, b := range d.backends {
			b.Stop()
		}
		if err != nil && ctx.Err() == nil {
			for _, nd := range d.nodes {
				fmt.Fprintf(stderr, "---- last lines of hakeeper on %s (%s):\n%s\n", nd.name, nd.log, logTail(nd.log, 20))
			}
		}
		if d.net == nil {
			return
		}
		n.step = n.steps - 1
		n.header("Tear down")
		if terr := d.teardown(n); terr != nil && err == nil {
			err = terr
		}
		if err == nil {
			fmt.Fprintf(n.out, "\n== Summary\n")
			n.table(summary)
		}
	}()

	n.header("Build a throwaway lab")
	for _, name := range netlab.RemoveStale(demoNSPrefix) {
		n.say("Removed %s, left behind by an earlier demo that was killed.", name)
	}
	d.lvs, err = netlab.NewLVS(fmt.Sprintf("%s%d", demoNSPrefix, os.Getpid()), 3)
	d.net = d.lvs.Lab
	if err != nil {
		return err
	}
	rows := [][]string{{"NODE", "NAMESPACE", "ADDRESS", "ROLE"}}
	for _, nd := range d.lvs.Nodes {
		name := d.lvs.Names[nd]
		role := "client (requests through the VIPs; " + fmt.Sprint(netlab.LVSClients) + " source addresses)"
		switch {
		case strings.HasPrefix(name, "director"):
			role = "director: VRRP, health checks, IPVS"
		case strings.HasPrefix(name, "web"):
			role = "real server: HTTP answering its name"
		}
		addrs, _ := nd.Addrs(nd.Iface)
		rows = append(rows, []string{name, nd.Name, addrs[0].String(), role})
		dn := &demoNode{name: name, ns: nd, log: filepath.Join(tmp, name+".log")}
		d.byName[name] = dn
		if name != "client" {
			d.nodes = append(d.nodes, dn)
		}
	}
	n.table(rows)
	for _, rs := range d.lvs.RealServers {
		name := d.lvs.Names[rs]
		if d.backends[name], err = netlab.StartBackend(rs, name, 80, netlab.MarkPorts[0], netlab.MarkPorts[1]); err != nil {
			return err
		}
	}
	n.say("One bridge (%s), nothing leaves the namespaces. web3 is not in the description yet.", d.lvs.BridgeNS)

	n.header("Start hakeeper on the directors and the real servers")
	started := time.Now()
	for _, name := range []string{"director1", "director2", "web1", "web2"} {
		if err := d.start(d.byName[name]); err != nil {
			return err
		}
		n.say("%s: ip netns exec %s hakeeper run --node %s --source %s", name, d.byName[name].ns.Name, name, filepath.Dir(src))
	}
	d1, d2 := d.lvs.Directors[0], d.lvs.Directors[1]
	if _, err := d.waitHolder(ctx, d1); err != nil {
		return err
	}
	for _, dir := range d.lvs.Directors {
		if _, err := d.waitIPVS(ctx, dir, 1, 2); err != nil {
			return err
		}
	}
	took := time.Since(started)
	n.say("Converged %s after the first start: director1 holds %s, both directors' IPVS has web1 and web2,", ms(took), netlab.VIPDR)
	n.say("and the real servers hold the VIP on lo (read from each namespace's kernel).")
	summary = append(summary, []string{"cold start", "VIP on director1, IPVS on both directors", ms(took)})

	n.header("Requests through the VIP")
	dr := netip.AddrPortFrom(netlab.VIPDR, 80)
	var answers []string
	for range 6 {
		rctx, cancel := context.WithTimeout(ctx, d.timeout)
		a, err := d.lvs.Client.Ask(rctx, d.lvs.ClientAddrs[0], dr)
		cancel()
		if err != nil {
			return fmt.Errorf("request to %s: %w", dr, err)
		}
		answers = append(answers, a)
	}
	n.say("6 requests from the client to http://%s/, each on a new connection: answered by %s.", dr, strings.Join(answers, ", "))
	n.say("The directors schedule round-robin; the real servers answer the client directly (direct routing).")
	// A request bounded by the default d.timeout would wait out TCP's SYN
	// retransmissions during the failover and print a gap seconds longer
	// than the outage; a short bound gives up on the lost SYN and asks
	// again, as the benchmark's client does.
	traffic = netlab.StartTraffic(d.lvs.Client, d.lvs.ClientAddrs[0], dr, 50*time.Millisecond, demoRequest)
	n.say("From now on the client sends a request every 50 ms, each given up after %s.", ms(demoRequest))

	n.header("A real server fails")
	t0 := time.Now()
	d.backends["web2"].Stop()
	delete(d.backends, "web2")
	n.say("Stopped the HTTP server on web2.")
	at, err := d.waitIPVS(ctx, d1, 1)
	if err != nil {
		return err
	}
	n.say("The health checks removed web2 from director1's IPVS %s later; requests since: %s.", ms(at.Sub(t0)), who(since(traffic.Results(), t0)))
	summary = append(summary, []string{"real server down", "web2 removed from IPVS", ms(at.Sub(t0))})
	if _, err := traffic.WaitAnswer(ctx, at, d.timeout, "web1"); err != nil {
		return err
	}
	t0 = time.Now()
	if d.backends["web2"], err = netlab.StartBackend(d.lvs.RealServers[1], "web2", 80, netlab.MarkPorts[0], netlab.MarkPorts[1]); err != nil {
		return err
	}
	if at, err = d.waitIPVS(ctx, d1, 1, 2); err != nil {
		return err
	}
	if _, err := traffic.WaitAnswer(ctx, at, d.timeout, "web2"); err != nil {
		return err
	}
	n.say("Started it again: back in IPVS %s later, answering again.", ms(at.Sub(t0)))
	summary = append(summary, []string{"real server back", "web2 in IPVS again", ms(at.Sub(t0))})

	n.header("Crash the master director (SIGKILL hakeeper, link down)")
	t0 = time.Now()
	if err := d.byName["director1"].proc.Kill(); err != nil {
		return err
	}
	if err := netlab.IP("-n", d1.Name, "link", "set", d1.Iface, "down"); err != nil {
		return err
	}
	if err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) { return d2.HasAddr(d2.Iface, netlab.VIPDR) }); err != nil {
		return fmt.Errorf("director2 taking %s: %w", netlab.VIPDR, err)
	}
	moved := time.Now()
	r, err := traffic.WaitAnswer(ctx, moved, d.timeout)
	if err != nil {
		return err
	}
	gap := netlab.Gap(traffic.Results(), t0, r.End)
	n.say("director2 holds %s %s after the crash (3 adverts of %v plus skew).", netlab.VIPDR, ms(moved.Sub(t0)), lvsDemoConfig.Advert)
	n.say("The client went %s without an answer; requests since the crash: %s.", ms(gap), who(since(traffic.Results(), t0)))
	if gap > moved.Sub(t0)+time.Second {
		n.say("Longer than the failover: a connection attempt nobody answered waits for TCP's SYN retransmissions (1, 3, 7 s after it began).")
	}
	summary = append(summary, []string{"master crash", "VIP director1 -> director2", ms(moved.Sub(t0))})
	summary = append(summary, []string{"", "client-visible gap", ms(gap)})
	t0 = time.Now()
	if err := d.start(d.byName["director1"]); err != nil {
		return err
	}
	if err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) {
		has, err := d1.HasAddr(d1.Iface, netlab.VIPDR)
		return !has, err
	}); err != nil {
		return fmt.Errorf("director1 dropping the VIP its crash left: %w", err)
	}
	if err := netlab.IP("-n", d1.Name, "link", "set", d1.Iface, "up"); err != nil {
		return err
	}
	if at, err = d.waitHolder(ctx, d1); err != nil {
		return err
	}
	n.say("director1 restarted (dropping the VIP its crash left), link up: it preempted %s after the restart.", ms(at.Sub(t0)))

	n.header("Add a third real server: one edit, every node converges")
	three := lvsDemoConfig
	three.RealServers = []int{1, 2, 3}
	t0 = time.Now()
	if err := d.describe([]byte(netlab.LVSDescription(three))); err != nil {
		return err
	}
	d.reload()
	if err := d.start(d.byName["web3"]); err != nil {
		return err
	}
	n.say("Wrote the description with web3 (as a commit would), signalled every node (a Git webhook in production), started hakeeper on web3.")
	for _, dir := range d.lvs.Directors {
		at, err := d.waitIPVS(ctx, dir, 1, 2, 3)
		if err != nil {
			return err
		}
		n.say("%s: web3 in the kernel's IPVS %s after the edit.", d.lvs.Names[dir], ms(at.Sub(t0)))
		summary = append(summary, []string{"third real server", "web3 in " + d.lvs.Names[dir] + "'s IPVS", ms(at.Sub(t0))})
	}
	web3 := d.lvs.RealServers[2]
	if err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) { return web3.HasAddr("lo", netlab.VIPDR) }); err != nil {
		return fmt.Errorf("web3's real-server role: %w", err)
	}
	n.say("web3: %s on lo %s after the edit.", netlab.VIPDR, ms(time.Since(t0)))
	if _, err = traffic.WaitAnswer(ctx, t0, d.timeout, "web3"); err != nil {
		return err
	}
	t1 := time.Now()
	if err := netlab.Wait(ctx, d.timeout, demoPoll, func() (bool, error) { return len(since(traffic.Results(), t1)) >= 9, nil }); err != nil {
		return err
	}
	n.say("The next requests: %s.", who(since(traffic.Results(), t1)))
	return nil
}

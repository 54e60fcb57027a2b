package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netlab"
)

// The live part of `hakeeper demo`: a bridge namespace and one namespace
// per node (test/netlab, the lab of the real-kernel tests too),
// `hakeeper run` in each, addresses read through netlink handles bound to
// each namespace.

// demoNSPrefix starts every namespace the demo creates; the demo's pid
// follows, so a later run can tell a dead demo's leftovers from a live one's.
const demoNSPrefix = "hkdemo"

// demoPoll is how often VIP holders are sampled while a step is timed.
const demoPoll = 2 * time.Millisecond

var lookPath = exec.LookPath

// demoLab is the throwaway network: namespaces, links and daemons.
type demoLab struct {
	id     string // hkdemo<pid>
	net    *netlab.Lab
	nodes  map[string]*demoNode
	order  []string // node names, sorted
	srcDir string   // the description the daemons watch
	logDir string
	exe    string
}

// demoNode is one node's namespace and its hakeeper process.
type demoNode struct {
	name   string
	ns     *netlab.Node
	addr   netip.Prefix
	addr6  netip.Prefix
	proc   *demoProc
	logf   string
	starts int
}

// demoProc is one `hakeeper run` inside a namespace.
type demoProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *demoProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

var safeNSName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// removeStaleDemoNamespaces deletes namespaces left by a demo that was
// killed before it could clean up (its pid no longer runs), after ending
// any process still inside them.
func removeStaleDemoNamespaces(n *narrator) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, demoNSPrefix) {
			continue
		}
		digits, _, _ := strings.Cut(strings.TrimPrefix(name, demoNSPrefix), "-")
		pid, err := strconv.Atoi(digits)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if p, err := strconv.Atoi(f); err == nil {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		if exec.Command("ip", "netns", "del", name).Run() == nil {
			n.say("Removed %s, left behind by an earlier demo that was killed.", name)
		}
	}
}

// processAlive reports whether pid runs; a zombie (dead, not yet reaped
// by a parent that may never reap it) does not count.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// prefixFor gives a node address the prefix length of the VIP subnet it
// lies in (the VIPs share the nodes' segment), else /24 or /64.
func prefixFor(a netip.Addr, l *demoLayout) netip.Prefix {
	for _, v := range l.vips {
		if v.prefix.Contains(a) {
			return netip.PrefixFrom(a, v.prefix.Bits())
		}
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 24)
	}
	return netip.PrefixFrom(a, 64)
}

// buildDemoLab creates the namespaces and links. On error the caller's
// teardown removes whatever was created.
func buildDemoLab(lab *demoLab, c *model.Cluster, l *demoLayout) error {
	var err error
	if lab.net, err = netlab.New(lab.id); err != nil {
		return err
	}
	for i, name := range l.nodes {
		spec := c.Nodes[name]
		suffix := name
		if !safeNSName.MatchString(name) {
			suffix = fmt.Sprintf("n%d", i+1)
		}
		nd := &demoNode{
			name: name,
			addr: prefixFor(l.addr[name], l),
			logf: filepath.Join(lab.logDir, name+".log"),
		}
		addrs := []netip.Prefix{nd.addr}
		if a, err := netip.ParseAddr(spec.Address6); err == nil {
			nd.addr6 = prefixFor(a, l)
			addrs = append(addrs, nd.addr6)
		}
		lab.nodes[name] = nd
		lab.order = append(lab.order, name)
		nd.ns, err = lab.net.AddNode(netlab.NodeSpec{
			Suffix: suffix,
			Iface:  spec.Interface,
			MAC:    net.HardwareAddr{0x02, 0x00, 0x5e, 0xd3, 0x00, byte(i + 1)},
			Addrs:  addrs,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// start runs `hakeeper run` for the node inside its namespace, its log
// appended to the node's log file.
func (lab *demoLab) start(nd *demoNode) error {
	logf, err := os.OpenFile(nd.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	nd.starts++
	fmt.Fprintf(logf, "---- start %d\n", nd.starts)
	// `ip netns exec` execs in place: the pid is hakeeper's own.
	// Each node keeps its own state (the VIP record that lets a crashed
	// node drop its stale VIPs on restart) in the demo's temp dir.
	state := filepath.Join(lab.logDir, "..", "state-"+nd.name)
	cmd := nd.ns.Command(context.Background(), lab.exe, "run", "--node", nd.name, "--source", lab.srcDir, "--state-dir", state, "--listen", "off")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group so a terminal's Ctrl-C reaches only the demo,
	// which stops the nodes itself; Pdeathsig ends a node if the demo is
	// killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start hakeeper for %s: %w", nd.name, err)
	}
	p := &demoProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	nd.proc = p
	return nil
}

func (lab *demoLab) running() map[string]bool {
	up := map[string]bool{}
	for name, nd := range lab.nodes {
		if nd.proc != nil && !nd.proc.exited() {
			up[name] = true
		}
	}
	return up
}

// holders reads every namespace's addresses and returns, for each VIP,
// the nodes that have it on an interface.
func (lab *demoLab) holders(vips []demoVIP) (map[netip.Addr][]string, error) {
	want := map[netip.Addr]bool{}
	for _, v := range vips {
		want[v.prefix.Addr()] = true
	}
	out := map[netip.Addr][]string{}
	for _, name := range lab.order {
		h, err := lab.nodes[name].ns.Handle()
		if err != nil {
			return nil, err
		}
		list, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("%s: list addresses: %w", name, err)
		}
		for _, a := range list {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok && want[ip.Unmap()] {
				out[ip.Unmap()] = append(out[ip.Unmap()], name)
			}
		}
	}
	return out, nil
}

// matches reports whether, among running nodes, exactly the wanted node
// holds each VIP. Copies on stopped nodes (a crashed node cannot remove
// its addresses) are ignored.
func matches(want map[netip.Addr]string, got map[netip.Addr][]string, up map[string]bool) bool {
	for a, w := range want {
		var live []string
		for _, n := range got[a] {
			if up[n] {
				live = append(live, n)
			}
		}
		if w == "" && len(live) != 0 || w != "" && (len(live) != 1 || live[0] != w) {
			return false
		}
	}
	return true
}

// waitFor polls until cond holds on the observed holders or timeout
// passes, and returns the time since t0.
func (lab *demoLab) waitFor(ctx context.Context, vips []demoVIP, t0 time.Time, timeout time.Duration,
	cond func(map[netip.Addr][]string) bool, what string) (time.Duration, map[netip.Addr][]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := lab.holders(vips)
		if err != nil {
			return 0, nil, err
		}
		if cond(got) {
			return time.Since(t0), got, nil
		}
		if time.Now().After(deadline) {
			return 0, got, fmt.Errorf("%s: not reached after %v (VIPs held: %s)", what, timeout, describeHolders(vips, got))
		}
		select {
		case <-ctx.Done():
			return 0, got, ctx.Err()
		case <-time.After(demoPoll):
		}
	}
}

func describeHolders(vips []demoVIP, got map[netip.Addr][]string) string {
	var parts []string
	for _, v := range vips {
		h := got[v.prefix.Addr()]
		if len(h) == 0 {
			h = []string{"nobody"}
		}
		parts = append(parts, v.prefix.Addr().String()+" by "+strings.Join(h, "+"))
	}
	return strings.Join(parts, ", ")
}

// removeVIPs deletes the cluster's VIPs from a stopped node, as a reboot
// of a crashed machine would.
func (lab *demoLab) removeVIPs(nd *demoNode, vips []demoVIP) ([]string, error) {
	want := map[netip.Addr]bool{}
	for _, v := range vips {
		want[v.prefix.Addr()] = true
	}
	h, err := nd.ns.Handle()
	if err != nil {
		return nil, err
	}
	list, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !want[ip.Unmap()] {
			continue
		}
		link, err := h.LinkByIndex(a.LinkIndex)
		if err != nil {
			return removed, fmt.Errorf("%s: link of %s: %w", nd.name, ip, err)
		}
		if err := h.AddrDel(link, &netlink.Addr{IPNet: a.IPNet}); err != nil {
			return removed, fmt.Errorf("%s: remove %s: %w", nd.name, ip, err)
		}
		removed = append(removed, ip.Unmap().String())
	}
	sort.Strings(removed)
	return removed, nil
}

// stopNode sends sig to a node's hakeeper and waits up to timeout for it
// to end; it returns how the process ended.
func stopNode(nd *demoNode, sig syscall.Signal, timeout time.Duration) (string, error) {
	p := nd.proc
	if p == nil {
		return "never started", nil
	}
	if !p.exited() {
		target := p.cmd.Process.Pid
		if sig == syscall.SIGKILL {
			target = -target // the whole group: a crash leaves nothing running
		}
		if err := syscall.Kill(target, sig); err != nil {
			return "", fmt.Errorf("%s: signal %v: %w", nd.name, sig, err)
		}
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		return "", fmt.Errorf("%s: hakeeper still running %v after %v", nd.name, timeout, sig)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return "exit status 0", nil
	case errors.As(p.err, &ee):
		return ee.String(), nil
	default:
		return p.err.Error(), nil
	}
}

// teardown stops every daemon (gracefully, then by force), deletes the
// namespaces and reports anything it could not remove.
func (lab *demoLab) teardown(n *narrator) error {
	var stopped []string
	for _, name := range lab.order {
		nd := lab.nodes[name]
		if nd.proc == nil || nd.proc.exited() {
			continue
		}
		if _, err := stopNode(nd, syscall.SIGTERM, 5*time.Second); err != nil {
			stopNode(nd, syscall.SIGKILL, 5*time.Second)
		}
		stopped = append(stopped, name)
	}
	created := 0
	var closeErr error
	if lab.net != nil {
		created = len(lab.net.Nodes) + 1
		closeErr = lab.net.Close()
	}
	left := leftoverNamespaces(lab.id)
	if len(stopped) > 0 {
		n.say("Stopped hakeeper on %s.", strings.Join(stopped, ", "))
	}
	if len(left) > 0 || closeErr != nil {
		return fmt.Errorf("teardown incomplete: namespaces left %v; %v", left, closeErr)
	}
	n.say("Removed %d namespaces (%s-*); nothing of the lab is left.", created, lab.id)
	return nil
}

// leftoverNamespaces lists namespaces whose name starts with prefix-.
func leftoverNamespaces(prefix string) []string {
	entries, _ := os.ReadDir("/run/netns")
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			left = append(left, e.Name())
		}
	}
	return left
}

// logTail returns the last lines of a node's log, for a failed step.
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// demoResult is one measured event for the summary.
type demoResult struct {
	what, detail string
	took         time.Duration
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// demoLive runs steps 2-9 and always tears the lab down.
func demoLive(ctx context.Context, n *narrator, c *model.Cluster, src demoSource, l *demoLayout, tmp string, stderr io.Writer) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the hakeeper binary: %w", err)
	}
	lab := &demoLab{
		id:     fmt.Sprintf("%s%d", demoNSPrefix, os.Getpid()),
		nodes:  map[string]*demoNode{},
		srcDir: filepath.Join(tmp, "source"),
		logDir: filepath.Join(tmp, "logs"),
		exe:    exe,
	}
	for _, d := range []string{lab.srcDir, lab.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	headline, err := l.headline()
	if err != nil {
		return err
	}
	// A crashed backup needs about 3 adverts plus skew; start-up and
	// reconfiguration add a little. Generous: the demo must not flake.
	timeout := 20*l.advert + 10*time.Second

	var results []demoResult
	defer func() {
		n.step = n.steps - 1 // the last step, however far the demo got
		n.header("Tear down")
		if terr := lab.teardown(n); terr != nil && err == nil {
			err = terr
		}
		if err == nil {
			printSummary(n, results, l.advert)
		}
	}()
	defer func() {
		if err != nil && ctx.Err() == nil {
			for _, name := range lab.order {
				fmt.Fprintf(stderr, "---- last lines of hakeeper on %s (%s):\n%s\n", name, lab.nodes[name].logf, logTail(lab.nodes[name].logf, 20))
			}
		}
	}()

	n.header("Build a throwaway lab")
	removeStaleDemoNamespaces(n)
	if err := buildDemoLab(lab, c, l); err != nil {
		return err
	}
	n.say("Bridge namespace %s, and one namespace per node joined to it by a veth pair:", lab.net.BridgeNS)
	rows := [][]string{{"NODE", "NAMESPACE", "INTERFACE", "ADDRESS"}}
	for _, name := range lab.order {
		nd := lab.nodes[name]
		addr := nd.addr.String()
		if nd.addr6.IsValid() {
			addr += " " + nd.addr6.String()
		}
		rows = append(rows, []string{name, nd.ns.Name, nd.ns.Iface, addr})
	}
	n.table(rows)
	n.say("The segment exists only inside these namespaces; nothing reaches the host's network.")

	n.header("Start hakeeper on every node")
	_, ipvsErr := os.Stat("/proc/net/ip_vs")
	withServices := ipvsErr == nil
	data, err := demoClusterFile(c, src, withServices)
	if err != nil {
		return err
	}
	srcFile := filepath.Join(lab.srcDir, "cluster.yaml")
	if err := os.WriteFile(srcFile, data, 0o644); err != nil {
		return err
	}
	if !withServices && len(c.Services) > 0 {
		n.say("This kernel has no IPVS: the %s are left out of the lab; VRRP runs as described.", plural(len(c.Services), "virtual service"))
	}
	n.say("The description is in %s; each node watches it.", srcFile)
	// The election is timed from the first start and watched at once:
	// waiting behind the next step's pause would only time the pause.
	started := time.Now()
	for _, name := range lab.order {
		if err := lab.start(lab.nodes[name]); err != nil {
			return err
		}
		n.say("%s: ip netns exec %s hakeeper run --node %s --source %s", name, lab.nodes[name].ns.Name, name, lab.srcDir)
	}

	all := l.allNodes()
	want := l.expected(all)
	took, got, err := lab.waitFor(ctx, l.vips, started, timeout, func(g map[netip.Addr][]string) bool { return matches(want, g, lab.running()) }, "every VIP on its preferred node")
	if err != nil {
		return err
	}

	n.header("Election")
	n.say("Every node starts as backup; the preferred ones became master %s after start. Read from each namespace's addresses:", ms(took))
	n.table(l.holderRows(want, got, lab.running()))

	master := want[l.firstVIP(headline)]
	vip := l.firstVIP(headline)
	up := lab.running()
	delete(up, master)
	backup := l.expected(up)[vip]
	mnd := lab.nodes[master]

	n.header(fmt.Sprintf("Crash the master of %s (SIGKILL %s)", headline, master))
	n.say("%s holds %s. Killing its hakeeper: no goodbye, the backup must notice the silence.", master, vip)
	t0 := time.Now()
	if _, err := stopNode(mnd, syscall.SIGKILL, 5*time.Second); err != nil {
		return err
	}
	took, _, err = lab.waitFor(ctx, l.vips, t0, timeout, func(g map[netip.Addr][]string) bool {
		return contains(g[vip], backup)
	}, vip.String()+" on "+backup)
	if err != nil {
		return err
	}
	n.say("%s on %s after %s (Master_Down_Interval: 3 adverts + skew).", vip, backup, ms(took))
	results = append(results, demoResult{"crash failover (SIGKILL)", fmt.Sprintf("%s %s -> %s", vip, master, backup), took})
	want = l.expected(lab.running())
	if _, got, err = lab.waitFor(ctx, l.vips, t0, timeout, func(g map[netip.Addr][]string) bool { return matches(want, g, lab.running()) }, "the survivors holding every VIP"); err != nil {
		return err
	}
	n.table(l.holderRows(want, got, lab.running()))
	removed, err := lab.removeVIPs(mnd, l.vips)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		n.say("A crashed process cannot remove its addresses: %s stayed on %s's interface. The demo removes them, as the machine's reboot would.", strings.Join(removed, ", "), master)
	}

	n.header(fmt.Sprintf("Restart %s: preemption", master))
	t0 = time.Now()
	if err := lab.start(mnd); err != nil {
		return err
	}
	n.say("%s starts as backup, hears %s advertise a lower priority, and preempts it.", master, backup)
	want = l.expected(lab.running())
	took, got, err = lab.waitFor(ctx, l.vips, t0, timeout, func(g map[netip.Addr][]string) bool { return matches(want, g, lab.running()) }, "preemption back to "+master)
	if err != nil {
		return err
	}
	n.say("%s back on %s %s after the restart (process start-up included).", vip, master, ms(took))
	n.table(l.holderRows(want, got, lab.running()))
	results = append(results, demoResult{"preemption after restart", fmt.Sprintf("%s %s -> %s", vip, backup, master), took})

	n.header(fmt.Sprintf("Graceful stop of %s (SIGTERM)", master))
	n.say("A stopping master advertises priority 0, so the backup takes over without waiting.")
	t0 = time.Now()
	if err := syscall.Kill(mnd.proc.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		return err
	}
	took, _, err = lab.waitFor(ctx, l.vips, t0, timeout, func(g map[netip.Addr][]string) bool {
		return contains(g[vip], backup)
	}, vip.String()+" on "+backup)
	if err != nil {
		return err
	}
	how, err := stopNode(mnd, syscall.SIGTERM, 20*time.Second)
	if err != nil {
		return err
	}
	n.say("%s on %s after %s; hakeeper on %s ended (%s).", vip, backup, ms(took), master, how)
	results = append(results, demoResult{"graceful handover (SIGTERM)", fmt.Sprintf("%s %s -> %s", vip, master, backup), took})
	want = l.expected(lab.running())
	if _, got, err = lab.waitFor(ctx, l.vips, t0, timeout, func(g map[netip.Addr][]string) bool {
		return matches(want, g, lab.running()) && len(g[vip]) == 1
	}, "the survivors holding every VIP, "+master+" holding none"); err != nil {
		return err
	}
	n.table(l.holderRows(want, got, lab.running()))
	if err := lab.start(mnd); err != nil {
		return err
	}
	want = l.expected(lab.running())
	if _, _, err = lab.waitFor(ctx, l.vips, time.Now(), timeout, func(g map[netip.Addr][]string) bool { return matches(want, g, lab.running()) }, master+" back"); err != nil {
		return err
	}
	n.say("%s started again and took its VIPs back.", master)

	n.header("Change the description: GitOps in miniature")
	edited, changes, err := demoEdit(c, headline, l)
	if err != nil {
		return err
	}
	el, err := demoLayoutOf(edited)
	if err != nil {
		return err
	}
	data, err = demoClusterFile(edited, demoSource{}, withServices)
	if err != nil {
		return err
	}
	n.say("The edit, as a commit would make it:")
	n.table(changeRows(changes))
	n.say("New preference order:")
	n.table(el.preferenceRows())
	if err := writeAtomically(srcFile, data); err != nil {
		return err
	}
	t0 = time.Now()
	// The nodes watch the directory; SIGHUP makes each re-read at once,
	// as a Git webhook would.
	for _, name := range lab.order {
		if nd := lab.nodes[name]; nd.proc != nil && !nd.proc.exited() {
			syscall.Kill(nd.proc.cmd.Process.Pid, syscall.SIGHUP)
		}
	}
	n.say("Wrote the new cluster.yaml and sent SIGHUP to every node (a Git webhook in production).")
	want = el.expected(lab.running())
	took, got, err = lab.waitFor(ctx, el.vips, t0, timeout, func(g map[netip.Addr][]string) bool { return matches(want, g, lab.running()) }, "the edited layout")
	if err != nil {
		return err
	}
	n.say("Every node applied the change; the VIPs are where the new description says, %s after the write:", ms(took))
	n.table(el.holderRows(want, got, lab.running()))
	moved := fmt.Sprintf("%s %s -> %s", vip, master, want[vip])
	if want[vip] == master {
		moved = fmt.Sprintf("%s stays on %s", vip, master)
	}
	if added := addedVIPs(l, el); added != "" {
		moved += ", " + added + " added"
	}
	results = append(results, demoResult{"reconfiguration (edit + SIGHUP)", moved, took})

	return nil
}

// printSummary ends the demo with the measured times.
func printSummary(n *narrator, results []demoResult, advert time.Duration) {
	fmt.Fprintf(n.out, "\n== Summary\n")
	rows := [][]string{{"EVENT", "WHAT MOVED", "TIME"}}
	for _, r := range results {
		rows = append(rows, []string{r.what, r.detail, ms(r.took)})
	}
	n.table(rows)
	n.say("Adverts every %v: after a crash the backup waits 3 adverts plus its skew; after a priority-0 advert only the skew ((256 - priority)/256 of an advert).", advert)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func changeRows(changes []string) [][]string {
	rows := make([][]string, len(changes))
	for i, c := range changes {
		rows[i] = []string{c}
	}
	return rows
}

// addedVIPs names the VIPs the edit added.
func addedVIPs(before, after *demoLayout) string {
	old := map[netip.Addr]bool{}
	for _, v := range before.vips {
		old[v.prefix.Addr()] = true
	}
	var added []string
	for _, v := range after.vips {
		if !old[v.prefix.Addr()] {
			added = append(added, v.prefix.Addr().String())
		}
	}
	return strings.Join(added, ", ")
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netlab"
)

// The live part of `hakeeper demo`: test/netlab's namespaces (the lab of
// the real-kernel tests too), `hakeeper run` in each.

// demoNSPrefix starts every namespace the demo creates; the demo's pid
// follows, so a later run can tell a dead demo's leftovers from a live one's.
const demoNSPrefix = "hkdemo"

// demoPoll is how often VIP holders are sampled while a step is timed.
const demoPoll = 2 * time.Millisecond

// demoLab is the throwaway network: namespaces, links and daemons.
type demoLab struct {
	net     *netlab.Lab
	nodes   []*demoNode // in the layout's order
	dir     string      // the demo's temporary directory
	exe     string
	timeout time.Duration
}

// demoNode is one node's namespace and its hakeeper process.
type demoNode struct {
	name   string
	ns     *netlab.Node
	addrs  []netip.Prefix
	proc   *netlab.Process
	log    string
	starts int
}

// prefixFor gives a node address the prefix length of the VIP subnet it
// lies in (the VIPs share the nodes' segment), else /24 or /64.
func prefixFor(a netip.Addr, l *demoLayout) netip.Prefix {
	for _, g := range l.groups {
		for _, v := range g.vips {
			if v.Contains(a) {
				return netip.PrefixFrom(a, v.Bits())
			}
		}
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 24)
	}
	return netip.PrefixFrom(a, 64)
}

// build creates the namespaces and links in place of the empty lab
// named lab.net.ID. On error, teardown removes whatever was created.
func (lab *demoLab) build(c *model.Cluster, l *demoLayout) error {
	var err error
	if lab.net, err = netlab.New(lab.net.ID); err != nil {
		return err
	}
	for i, name := range l.nodes {
		nd := &demoNode{name: name, addrs: []netip.Prefix{prefixFor(l.addr[name], l)}, log: filepath.Join(lab.dir, name+".log")}
		if a, err := netip.ParseAddr(c.Nodes[name].Address6); err == nil {
			nd.addrs = append(nd.addrs, prefixFor(a, l))
		}
		lab.nodes = append(lab.nodes, nd)
		nd.ns, err = lab.net.AddNode(netlab.NodeSpec{
			Suffix: name, // node names are letters, digits and dashes
			Iface:  c.Nodes[name].Interface,
			MAC:    net.HardwareAddr{0x02, 0x00, 0x5e, 0xd3, 0x00, byte(i + 1)},
			Addrs:  nd.addrs,
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
	logf, err := os.OpenFile(nd.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	nd.starts++
	fmt.Fprintf(logf, "---- start %d\n", nd.starts)
	// Each node keeps its own state (the record of its VIPs, which lets
	// a crashed node drop them when it restarts) in the demo's temp dir.
	cmd := nd.ns.Command(context.Background(), lab.exe, "run", "--node", nd.name, "--source", filepath.Join(lab.dir, "source"),
		"--state-dir", filepath.Join(lab.dir, "state-"+nd.name), "--listen", "off")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig ends a node if the demo is killed outright; its own
	// process group (netlab.Start) keeps a terminal's Ctrl-C to the demo,
	// which stops the nodes itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if nd.proc, err = netlab.Start(cmd); err != nil {
		return fmt.Errorf("start hakeeper for %s: %w", nd.name, err)
	}
	return nil
}

// describe replaces the description the nodes read. The temporary file
// is made beside the watched directory, not in it, so the nodes see one
// event: the new file.
func (lab *demoLab) describe(data []byte) error {
	return renameio.WriteFile(filepath.Join(lab.dir, "source", "cluster.yaml"), data, 0o644, renameio.WithTempDir(lab.dir))
}

// reload has every running node re-read the description at once (they
// watch the directory too), as a Git webhook would.
func (lab *demoLab) reload() {
	for _, nd := range lab.nodes {
		if nd.proc != nil && !nd.proc.Exited() {
			nd.proc.Signal(syscall.SIGHUP)
		}
	}
}

func (lab *demoLab) running() map[string]bool {
	up := map[string]bool{}
	for _, nd := range lab.nodes {
		if nd.proc != nil && !nd.proc.Exited() {
			up[nd.name] = true
		}
	}
	return up
}

// waitFor polls the VIPs of l until cond holds on their holders (node
// names), and returns the time since t0 and the holders.
func (lab *demoLab) waitFor(ctx context.Context, l *demoLayout, t0 time.Time, what string, cond func(map[netip.Addr][]string) bool) (time.Duration, map[netip.Addr][]string, error) {
	var got map[netip.Addr][]string
	err := netlab.Wait(ctx, lab.timeout, demoPoll, func() (bool, error) {
		held, err := lab.net.Holders(l.vips()...)
		got = map[netip.Addr][]string{}
		for a, nodes := range held {
			for _, ns := range nodes {
				got[a] = append(got[a], lab.nodes[slices.Index(lab.net.Nodes, ns)].name)
			}
		}
		return err == nil && cond(got), err
	})
	if err != nil {
		return 0, got, fmt.Errorf("%s: %w (VIPs held: %v)", what, err, got)
	}
	return time.Since(t0), got, nil
}

// settle waits until, among the running nodes, exactly the one l
// expects holds each VIP; copies on stopped nodes (a crashed node cannot
// remove its addresses) are ignored.
func (lab *demoLab) settle(ctx context.Context, l *demoLayout, t0 time.Time, what string, extra func(map[netip.Addr][]string) bool) (time.Duration, map[netip.Addr][]string, error) {
	return lab.waitFor(ctx, l, t0, what, func(got map[netip.Addr][]string) bool {
		up := lab.running()
		for a, w := range l.expected(up) {
			live := slices.DeleteFunc(slices.Clone(got[a]), func(n string) bool { return !up[n] })
			if w == "" && len(live) != 0 || w != "" && !slices.Equal(live, []string{w}) {
				return false
			}
		}
		return extra == nil || extra(got)
	})
}

// teardown stops every daemon (gracefully, then by force) and deletes
// the namespaces.
func (lab *demoLab) teardown(n *narrator) error {
	var stopped []string
	for _, nd := range lab.nodes {
		if nd.proc != nil && !nd.proc.Exited() {
			nd.proc.Stop(syscall.SIGTERM, 5*time.Second)
			stopped = append(stopped, nd.name)
		}
	}
	if len(stopped) > 0 {
		n.say("Stopped hakeeper on %s.", strings.Join(stopped, ", "))
	}
	created := len(lab.net.Nodes) + 1
	if err := lab.net.Close(); err != nil {
		return fmt.Errorf("teardown incomplete: %w", err)
	}
	n.say("Removed %d namespaces (%s-*); nothing of the lab is left.", created, lab.net.ID)
	return nil
}

// logTail returns the last lines of a node's log, for a failed step.
func logTail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// demoLive runs steps 2-9 and always tears the lab down.
func demoLive(ctx context.Context, n *narrator, c *model.Cluster, l *demoLayout, tmp string, stderr io.Writer) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the hakeeper binary: %w", err)
	}
	head, err := l.headline()
	if err != nil {
		return err
	}
	srcFile := filepath.Join(tmp, "source", "cluster.yaml")
	if err := os.MkdirAll(filepath.Dir(srcFile), 0o755); err != nil {
		return err
	}
	lab := &demoLab{
		net: &netlab.Lab{ID: fmt.Sprintf("%s%d", demoNSPrefix, os.Getpid())},
		dir: tmp,
		exe: exe,
		// A crashed backup needs about 3 adverts plus skew; start-up and
		// reconfiguration add a little. Generous: the demo must not flake.
		timeout: 20*l.advert + 10*time.Second,
	}
	// The measured events, for the summary.
	summary := [][]string{{"EVENT", "WHAT MOVED", "TIME"}}
	defer func() {
		if err != nil && ctx.Err() == nil {
			for _, nd := range lab.nodes {
				fmt.Fprintf(stderr, "---- last lines of hakeeper on %s (%s):\n%s\n", nd.name, nd.log, logTail(nd.log, 20))
			}
		}
		n.step = n.steps - 1 // the last step, however far the demo got
		n.header("Tear down")
		if terr := lab.teardown(n); terr != nil && err == nil {
			err = terr
		}
		if err == nil {
			fmt.Fprintf(n.out, "\n== Summary\n")
			n.table(summary)
			n.say("Adverts every %v: after a crash the backup waits 3 adverts plus its skew; after a priority-0 advert only the skew ((256 - priority)/256 of an advert).", l.advert)
		}
	}()

	n.header("Build a throwaway lab")
	for _, name := range netlab.RemoveStale(demoNSPrefix) {
		n.say("Removed %s, left behind by an earlier demo that was killed.", name)
	}
	if err := lab.build(c, l); err != nil {
		return err
	}
	n.say("Bridge namespace %s, and one namespace per node joined to it by a veth pair:", lab.net.BridgeNS)
	rows := [][]string{{"NODE", "NAMESPACE", "INTERFACE", "ADDRESS"}}
	for _, nd := range lab.nodes {
		rows = append(rows, []string{nd.name, nd.ns.Name, nd.ns.Iface, strings.Trim(fmt.Sprint(nd.addrs), "[]")})
	}
	n.table(rows)
	n.say("The segment exists only inside these namespaces; nothing reaches the host's network.")

	n.header("Start hakeeper on every node")
	// The nodes read the description as loaded, written back as one
	// file; virtual services are left out when the kernel has no IPVS.
	_, ipvsErr := os.Stat("/proc/net/ip_vs")
	if ipvsErr != nil && len(c.Services) > 0 {
		n.say("This kernel has no IPVS: the %s are left out of the lab; VRRP runs as described.", plural(len(c.Services), "virtual service"))
	}
	write := func(c *model.Cluster) error {
		cp := *c
		if ipvsErr != nil {
			cp.Services = nil
		}
		data, err := yaml.Marshal(&cp)
		if err != nil {
			return err
		}
		return lab.describe(data)
	}
	if err := write(c); err != nil {
		return err
	}
	n.say("The description is in %s; each node watches it.", srcFile)
	// The election is timed from the first start and watched at once:
	// waiting behind the next step's pause would only time the pause.
	started := time.Now()
	for _, nd := range lab.nodes {
		if err := lab.start(nd); err != nil {
			return err
		}
		n.say("%s: ip netns exec %s hakeeper run --node %s --source %s", nd.name, nd.ns.Name, nd.name, filepath.Dir(srcFile))
	}
	took, got, err := lab.settle(ctx, l, started, "every VIP on its preferred node", nil)
	if err != nil {
		return err
	}

	n.header("Election")
	n.say("Every node starts as backup; the preferred ones became master %s after start. Read from each namespace's addresses:", ms(took))
	n.table(l.holderRows(got, lab.running()))

	vip := head.vips[0].Addr()
	master := l.expected(lab.running())[vip]
	mnd := lab.nodes[slices.Index(l.nodes, master)]
	others := lab.running()
	delete(others, master)
	backup := l.expected(others)[vip]
	onBackup := func(g map[netip.Addr][]string) bool { return slices.Contains(g[vip], backup) }

	n.header(fmt.Sprintf("Crash the master of %s (SIGKILL %s)", head.name, master))
	n.say("%s holds %s. Killing its hakeeper: no goodbye, the backup must notice the silence.", master, vip)
	t0 := time.Now()
	if err := mnd.proc.Kill(); err != nil {
		return err
	}
	if took, _, err = lab.waitFor(ctx, l, t0, vip.String()+" on "+backup, onBackup); err != nil {
		return err
	}
	n.say("%s on %s after %s (Master_Down_Interval: 3 adverts + skew).", vip, backup, ms(took))
	summary = append(summary, []string{"crash failover (SIGKILL)", fmt.Sprintf("%s %s -> %s", vip, master, backup), ms(took)})
	if _, got, err = lab.settle(ctx, l, t0, "the survivors holding every VIP", nil); err != nil {
		return err
	}
	n.table(l.holderRows(got, lab.running()))
	n.say("A crashed process cannot remove its addresses: they stay on %s until its hakeeper restarts and drops them.", master)

	n.header(fmt.Sprintf("Restart %s: preemption", master))
	t0 = time.Now()
	if err := lab.start(mnd); err != nil {
		return err
	}
	n.say("%s starts as backup, removes the VIPs its crash left (recorded in its state directory), hears %s advertise a lower priority, and preempts it.", master, backup)
	if took, got, err = lab.settle(ctx, l, t0, "preemption back to "+master, nil); err != nil {
		return err
	}
	n.say("%s back on %s %s after the restart (process start-up included).", vip, master, ms(took))
	n.table(l.holderRows(got, lab.running()))
	summary = append(summary, []string{"preemption after restart", fmt.Sprintf("%s %s -> %s", vip, backup, master), ms(took)})

	n.header(fmt.Sprintf("Graceful stop of %s (SIGTERM)", master))
	n.say("A stopping master advertises priority 0, so the backup takes over without waiting.")
	t0 = time.Now()
	if err := mnd.proc.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if took, _, err = lab.waitFor(ctx, l, t0, vip.String()+" on "+backup, onBackup); err != nil {
		return err
	}
	if err := mnd.proc.Wait(lab.timeout); err != nil {
		return fmt.Errorf("%s: %w", master, err)
	}
	n.say("%s on %s after %s; hakeeper on %s ended (%s).", vip, backup, ms(took), master, mnd.proc.Cmd.ProcessState)
	summary = append(summary, []string{"graceful handover (SIGTERM)", fmt.Sprintf("%s %s -> %s", vip, master, backup), ms(took)})
	if _, got, err = lab.settle(ctx, l, t0, "the survivors holding every VIP, "+master+" holding none", func(g map[netip.Addr][]string) bool { return len(g[vip]) == 1 }); err != nil {
		return err
	}
	n.table(l.holderRows(got, lab.running()))
	if err := lab.start(mnd); err != nil {
		return err
	}
	if _, _, err = lab.settle(ctx, l, time.Now(), master+" back", nil); err != nil {
		return err
	}
	n.say("%s started again and took its VIPs back.", master)

	n.header("Change the description: GitOps in miniature")
	edited, changes, err := demoEdit(c, head, l)
	if err != nil {
		return err
	}
	el, err := demoLayoutOf(edited)
	if err != nil {
		return err
	}
	n.say("The edit, as a commit would make it:")
	for _, ch := range changes {
		n.table([][]string{{ch}})
	}
	n.say("New preference order:")
	n.table(el.preferenceRows())
	if err := write(edited); err != nil {
		return err
	}
	t0 = time.Now()
	lab.reload()
	n.say("Wrote the new cluster.yaml and sent SIGHUP to every node (a Git webhook in production).")
	if took, got, err = lab.settle(ctx, el, t0, "the edited layout", nil); err != nil {
		return err
	}
	n.say("Every node applied the change; the VIPs are where the new description says, %s after the write:", ms(took))
	n.table(el.holderRows(got, lab.running()))
	now := el.expected(lab.running())[vip]
	moved := fmt.Sprintf("%s %s -> %s", vip, master, now)
	if now == master {
		moved = fmt.Sprintf("%s stays on %s", vip, master)
	}
	if added := slices.DeleteFunc(el.vips(), func(a netip.Addr) bool { return slices.Contains(l.vips(), a) }); len(added) > 0 {
		moved += ", " + strings.Trim(fmt.Sprint(added), "[]") + " added"
	}
	summary = append(summary, []string{"reconfiguration (edit + SIGHUP)", moved, ms(took)})
	return nil
}

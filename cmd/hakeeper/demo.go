package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
)

// demoClusterYAML is the cluster `hakeeper demo` runs unless --dir names
// another: two nodes, a web VIP and a dual-master spread pair, 100 ms adverts.
//
//go:embed demo/cluster.yaml
var demoClusterYAML []byte

// exitInterrupted is the conventional status of a program ended by Ctrl-C.
const exitInterrupted = 130

type demoOptions struct {
	dir          string
	printCluster bool
	offline      bool
	lvs          bool
	pace         time.Duration
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--dir PATH | --lvs] [--pace DURATION] [--offline] [--print-cluster]",
		Short: "Live demonstration: VRRP failover and reconfiguration of a cluster in throwaway network namespaces",
		Long: `demo shows what hakeeper does, on a small cluster built into the binary
(see --print-cluster) or the one in --dir:

  1. validate the description and show who is preferred for each VIP;
  2. build a throwaway lab: a bridge namespace and one namespace per node,
     joined by veth pairs, on a segment that exists only inside them;
  3. start 'hakeeper run' for each node inside its namespace;
  4. show which node holds each VIP once elected;
  5. crash the master (SIGKILL) and measure how long until a backup holds the VIP;
  6. restart it and show it take the VIP back (preemption);
  7. stop it gracefully (SIGTERM): priority-0 handover, measured;
  8. edit the description (reverse the preference of one VIP group, add a
     VIP), signal the nodes and watch the VIPs move: GitOps in miniature;
  9. tear everything down, also on Ctrl-C or an error.

The live part needs root (network namespaces) and iproute2's ip command.
Without them, or with --offline, demo shows the offline part instead:
validate, show and plan --offline, and exits 0.

Virtual services are left out of the live lab when the kernel has no
IPVS; the VRRP part runs anyway.

--lvs shows an LVS-DR cluster instead, from one description: a client,
two directors and three web servers (HTTP answering with their name);
hakeeper runs on the directors and on the real servers. Requests through
the VIP spread over the real servers; a real server's HTTP server stops
and the health checks remove it; the master director crashes and the
client-visible gap is measured; an edit adds the third real server and
every node converges, timed from the edit to the kernel. It needs IPVS:
where the kernel has none, 'make demo' runs it inside the QEMU VM of
test/vm, and the demo says where it ran.

Exit status: 0 done, 1 a step failed (the lab is removed all the same),
130 interrupted.`,
		Example: `  sudo hakeeper demo
  sudo hakeeper demo --dir examples/dual-master
  hakeeper demo --print-cluster > cluster.yaml
  sudo hakeeper demo --lvs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.printCluster {
				_, err := cmd.OutOrStdout().Write(demoClusterYAML)
				return err
			}
			if o.lvs {
				if o.dir != "" {
					return errors.New("--lvs runs its own cluster: drop --dir")
				}
				return runDemoLVS(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "cluster description (file or directory) to demonstrate instead of the built-in one; its nodes must share one segment")
	f.BoolVar(&o.printCluster, "print-cluster", false, "print the built-in demo cluster and exit")
	f.DurationVar(&o.pace, "pace", time.Second, "pause between the live steps, to read along (0: run straight through)")
	f.BoolVar(&o.lvs, "lvs", false, "demonstrate an LVS-DR cluster (directors, real servers, a client) instead; needs IPVS")
	f.BoolVar(&o.offline, "offline", false, "skip the live lab: only validate, show and plan --offline (what a user without root sees)")
	return cmd
}

// narrator writes the demo's story: step headers and timestamped lines.
type narrator struct {
	out         io.Writer
	start       time.Time
	step, steps int
	// pace pauses before each step after the first, so a person can
	// read along; ctx cuts the pause short on Ctrl-C.
	pace time.Duration
	ctx  context.Context
}

func (n *narrator) header(title string) {
	if n.step > 0 && n.pace > 0 {
		select {
		case <-n.ctx.Done():
		case <-time.After(n.pace):
		}
	}
	n.step++
	fmt.Fprintf(n.out, "\n== %d/%d  %s\n", n.step, n.steps, title)
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.out, "[%7.3fs] %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

// table prints rows aligned, indented under the narration.
func (n *narrator) table(rows [][]string) {
	tw := tabwriter.NewWriter(n.out, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, "            "+strings.Join(r, "\t"))
	}
	tw.Flush()
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "hakeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	path, label := o.dir, o.dir
	if o.dir == "" {
		path, label = filepath.Join(tmp, "cluster.yaml"), "the built-in demo cluster (hakeeper demo --print-cluster)"
		if err := os.WriteFile(path, demoClusterYAML, 0o644); err != nil {
			return err
		}
	}
	why := o.liveUnavailable()
	n := &narrator{out: stdout, start: time.Now(), steps: 9, ctx: ctx}
	if why != "" {
		n.steps = 2
	}

	n.header("The cluster description")
	n.say("Reading %s.", label)
	c, err := loadCluster(path)
	if err != nil {
		return inDescription(path, err)
	}
	l, err := demoLayoutOf(c)
	if err != nil {
		return err
	}
	n.say("Valid: %s, %s, %s. Priorities come from each group's preference order:",
		plural(len(c.Nodes), "node"), plural(len(c.VIPGroups), "VIP group"), plural(len(c.Services), "service"))
	n.table(l.preferenceRows())
	n.say("With every node up, each VIP goes to its most preferred node:")
	up := l.allNodes()
	predicted := map[netip.Addr][]string{}
	for a, node := range l.expected(up) {
		if node != "" {
			predicted[a] = []string{node}
		}
	}
	n.table(l.holderRows(predicted, up))
	if why != "" {
		return demoOffline(n, path, l.nodes[0], why, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n.ctx, n.pace = ctx, o.pace
	err = demoLive(ctx, n, c, l, tmp, stderr)
	if ctx.Err() != nil && err != nil {
		fmt.Fprintln(stderr, "hakeeper demo: interrupted; the lab has been removed")
		return exitCodeError{exitInterrupted}
	}
	return err
}

// liveUnavailable says why the live lab cannot run here ("" when it can).
func (o demoOptions) liveUnavailable() string {
	switch {
	case o.offline:
		return "--offline: the live lab is skipped"
	case os.Geteuid() != 0:
		return "the live lab needs root (CAP_NET_ADMIN) to create network namespaces; run `sudo make demo` or `sudo hakeeper demo` to see failover live"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the live lab needs iproute2's ip command, which is not installed (apt-get install iproute2)"
	}
	return ""
}

// demoOffline is the part of the demo that needs no privileges: what the
// read-only commands say about the first node.
func demoOffline(n *narrator, path, node, why string, stdout, stderr io.Writer) error {
	n.header("Offline: what one node would do")
	n.say("Not running the live part: %s.", why)
	n.say("Showing what hakeeper computes without touching the kernel, for node %s.", node)
	for _, args := range [][]string{
		{"validate", path},
		{"show", "--node", node, path},
		{"plan", "--offline", "--node", node, path},
	} {
		fmt.Fprintf(stdout, "\n$ hakeeper %s\n", strings.Join(args, " "))
		root := newRootCmd(stdout, stderr)
		root.SetArgs(args)
		err := root.Execute()
		var ec exitCodeError
		if err != nil && !(errors.As(err, &ec) && ec.code == exitChanges) {
			return fmt.Errorf("hakeeper %s: %w", strings.Join(args, " "), err)
		}
	}
	fmt.Fprintln(stdout)
	n.say("Done (offline). As root, `hakeeper demo` runs these nodes in network namespaces and fails them over.")
	return nil
}

// demoGroup is one VIP group as the demo shows it.
type demoGroup struct {
	name string
	vrid uint8
	vips []netip.Prefix
	pref []model.NodePriority // most preferred first
}

// demoLayout is what the demo needs of a cluster: the groups and the
// node addresses (RFC 5798 breaks a priority tie by the higher address).
type demoLayout struct {
	nodes  []string // sorted
	addr   map[string]netip.Addr
	groups []*demoGroup // by name
	advert time.Duration
}

func demoLayoutOf(c *model.Cluster) (*demoLayout, error) {
	l := &demoLayout{addr: map[string]netip.Addr{}}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.Nodes)) {
		l.nodes = append(l.nodes, name)
		ns, err := model.Desired(c, name)
		if err != nil {
			return nil, err
		}
		l.addr[name] = ns.Address
		for _, in := range ns.Instances {
			if !seen[in.Name] {
				seen[in.Name] = true
				g := &demoGroup{name: in.Name, vrid: in.VRID, pref: in.Preference}
				for _, v := range in.VIPs {
					g.vips = append(g.vips, v.Prefix)
				}
				l.groups = append(l.groups, g)
				l.advert = max(l.advert, in.AdvertInterval)
			}
		}
	}
	if len(l.groups) == 0 {
		return nil, errors.New("the cluster has no VIPs to fail over")
	}
	slices.SortFunc(l.groups, func(a, b *demoGroup) int { return strings.Compare(a.name, b.name) })
	return l, nil
}

func (l *demoLayout) allNodes() map[string]bool {
	up := map[string]bool{}
	for _, n := range l.nodes {
		up[n] = true
	}
	return up
}

func (l *demoLayout) vips() []netip.Addr {
	var out []netip.Addr
	for _, g := range l.groups {
		for _, v := range g.vips {
			out = append(out, v.Addr())
		}
	}
	return out
}

// headline is the group the failover steps act on: the lowest VRID with
// at least two candidates.
func (l *demoLayout) headline() (*demoGroup, error) {
	var best *demoGroup
	for _, g := range l.groups {
		if len(g.pref) > 1 && len(g.vips) > 0 && (best == nil || g.vrid < best.vrid) {
			best = g
		}
	}
	if best == nil {
		return nil, errors.New("no VIP group has two nodes: nothing can fail over")
	}
	return best, nil
}

// expected says which running node must hold each VIP: the highest
// priority among the group's running candidates ("" when none runs).
// Tracked checks may change priorities at run time; the demo's
// predictions use the configured ones.
func (l *demoLayout) expected(up map[string]bool) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, g := range l.groups {
		winner, best := "", uint8(0)
		for _, p := range g.pref {
			if up[p.Node] && (winner == "" || p.Priority > best || p.Priority == best && l.addr[winner].Less(l.addr[p.Node])) {
				winner, best = p.Node, p.Priority
			}
		}
		for _, v := range g.vips {
			out[v.Addr()] = winner
		}
	}
	return out
}

func (g *demoGroup) preference() string {
	var s []string
	for _, p := range g.pref {
		s = append(s, fmt.Sprintf("%s %d", p.Node, p.Priority))
	}
	return strings.Join(s, " > ")
}

func (l *demoLayout) preferenceRows() [][]string {
	rows := [][]string{{"VIP GROUP", "VRID", "VIPS", "PREFERENCE (PRIORITY)"}}
	for _, g := range l.groups {
		var vips []string
		for _, v := range g.vips {
			vips = append(vips, v.String())
		}
		rows = append(rows, []string{g.name, fmt.Sprint(g.vrid), strings.Join(vips, " "), g.preference()})
	}
	return rows
}

// holderRows lists every VIP with the nodes that hold it (held); a
// holder not in up, whose hakeeper is not running, is marked stale.
func (l *demoLayout) holderRows(held map[netip.Addr][]string, up map[string]bool) [][]string {
	rows := [][]string{{"VIP", "GROUP", "HELD BY"}}
	for _, g := range l.groups {
		for _, v := range g.vips {
			var names []string
			for _, node := range held[v.Addr()] {
				if !up[node] {
					node += " (stale: its hakeeper is dead)"
				}
				names = append(names, node)
			}
			if len(names) == 0 {
				names = []string{"(nobody)"}
			}
			rows = append(rows, []string{v.Addr().String(), g.name, strings.Join(names, ", ")})
		}
	}
	return rows
}

// demoEdit changes the description the way a commit would: group g gets
// the reverse of its preference order (out of any spread set, which
// would choose the order itself) and one more VIP. It returns the edited
// cluster and a line per change.
func demoEdit(c *model.Cluster, g *demoGroup, l *demoLayout) (*model.Cluster, []string, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, nil, err
	}
	edited, err := model.Load([]model.File{{Name: "cluster.yaml", Data: b}})
	if err != nil {
		return nil, nil, fmt.Errorf("re-reading the description: %w", err)
	}
	var changes []string
	for name, set := range edited.Spread {
		if i := slices.Index(set.Groups, g.name); i >= 0 {
			set.Groups = slices.Delete(set.Groups, i, i+1)
			if len(set.Groups) == 0 {
				delete(edited.Spread, name)
			}
			changes = append(changes, fmt.Sprintf("spread.%s.groups: - %s", name, g.name))
		}
	}
	vg := edited.VIPGroups[g.name]
	vg.Nodes, vg.Priorities = nil, nil
	for _, p := range slices.Backward(g.pref) {
		vg.Nodes = append(vg.Nodes, p.Node)
	}
	changes = append(changes, fmt.Sprintf("vipGroups.%s.nodes: [%s] (was %s)", g.name, strings.Join(vg.Nodes, ", "), g.preference()))
	if next, ok := l.freeAddr(g); ok {
		vg.VIPs = append(vg.VIPs, model.VIP{Address: next.String()})
		changes = append(changes, fmt.Sprintf("vipGroups.%s.vips: + %s", g.name, next))
	}
	if errs := model.Validate(edited); len(errs) > 0 {
		return nil, nil, fmt.Errorf("the demo's edit does not validate: %w", errs)
	}
	return edited, changes, nil
}

// freeAddr picks an address for a new VIP of group g: the next one after
// its first VIP, in its prefix, used by no node and no VIP.
func (l *demoLayout) freeAddr(g *demoGroup) (netip.Prefix, bool) {
	used := slices.Concat(l.vips(), slices.Collect(maps.Values(l.addr)))
	first := g.vips[0]
	for a, i := first.Addr().Next(), 0; a.IsValid() && first.Contains(a) && i < 256; a, i = a.Next(), i+1 {
		if !slices.Contains(used, a) {
			return netip.PrefixFrom(a, first.Bits()), true
		}
	}
	return netip.Prefix{}, false
}

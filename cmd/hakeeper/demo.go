package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
)

func init() { addCommand(newDemoCmd) }

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
	pace         time.Duration
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--dir PATH] [--pace DURATION] [--offline] [--print-cluster]",
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
IPVS; the VRRP part runs anyway. Exit status: 0 done, 1 a step failed
(the lab is removed all the same), 130 interrupted.`,
		Example: `  sudo hakeeper demo
  sudo hakeeper demo --dir examples/dual-master
  hakeeper demo --print-cluster > cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.printCluster {
				_, err := cmd.OutOrStdout().Write(demoClusterYAML)
				return err
			}
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "cluster description (file or directory) to demonstrate instead of the built-in one; its nodes must share one segment")
	f.BoolVar(&o.printCluster, "print-cluster", false, "print the built-in demo cluster and exit")
	f.DurationVar(&o.pace, "pace", time.Second, "pause between the live steps, to read along (0: run straight through)")
	f.BoolVar(&o.offline, "offline", false, "skip the live lab: only validate, show and plan --offline (what a user without root sees)")
	return cmd
}

// narrator writes the demo's story: step headers and timestamped lines.
type narrator struct {
	out   io.Writer
	start time.Time
	step  int
	steps int
	// pace pauses before each step after the first, so a person can
	// read along; ctx cuts the pause short on Ctrl-C.
	pace time.Duration
	ctx  context.Context
}

func (n *narrator) header(title string) {
	if n.step > 0 && n.pace > 0 && n.ctx != nil {
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

// demoSource is the description the demo runs: its path and, for the
// built-in cluster, the original text (written verbatim into the lab).
type demoSource struct {
	path  string
	label string
	raw   []byte
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	tmp, err := os.MkdirTemp("", "hakeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	src := demoSource{path: o.dir, label: o.dir}
	if o.dir == "" {
		src = demoSource{path: filepath.Join(tmp, "cluster.yaml"), label: "the built-in demo cluster (hakeeper demo --print-cluster)", raw: demoClusterYAML}
		if err := os.WriteFile(src.path, demoClusterYAML, 0o644); err != nil {
			return err
		}
	}
	why := o.liveUnavailable()
	n := &narrator{out: stdout, start: time.Now(), steps: 9}
	if why != "" {
		n.steps = 2
	}

	n.header("The cluster description")
	n.say("Reading %s.", src.label)
	c, err := loadCluster(src.path)
	if err == nil {
		err = desiredForAll(c)
	}
	if err != nil {
		return inDescription(src.path, err)
	}
	layout, err := demoLayoutOf(c)
	if err != nil {
		return err
	}
	n.say("Valid: %s, %s, %s. Priorities come from each group's preference order:",
		plural(len(c.Nodes), "node"), plural(len(c.VIPGroups), "VIP group"), plural(len(c.Services), "service"))
	n.table(layout.preferenceRows())
	all := layout.allNodes()
	n.say("With every node up, each VIP goes to its most preferred node:")
	n.table(layout.holderRows(layout.expected(all), nil, nil))

	if why != "" {
		return demoOffline(n, src.path, layout.nodes[0], why, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n.ctx, n.pace = ctx, o.pace
	err = demoLive(ctx, n, c, src, layout, tmp, stderr)
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
	if _, err := lookPath("ip"); err != nil {
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

// demoVIP is one virtual address of the cluster and its VIP group.
type demoVIP struct {
	group  string
	prefix netip.Prefix
}

// demoLayout is what the demo needs of a cluster: the VIPs, every
// group's candidates by priority, and the node addresses (RFC 5798
// breaks a priority tie by the higher primary address).
type demoLayout struct {
	nodes      []string // sorted
	addr       map[string]netip.Addr
	vips       []demoVIP // by group, then address
	preference map[string][]model.NodePriority
	vrid       map[string]uint8
	advert     time.Duration // the longest advert interval of any group
}

func demoLayoutOf(c *model.Cluster) (*demoLayout, error) {
	l := &demoLayout{addr: map[string]netip.Addr{}, preference: map[string][]model.NodePriority{}, vrid: map[string]uint8{}}
	for name := range c.Nodes {
		l.nodes = append(l.nodes, name)
	}
	sort.Strings(l.nodes)
	if len(l.nodes) == 0 {
		return nil, errors.New("the cluster has no nodes")
	}
	for _, name := range l.nodes {
		ns, err := model.Desired(c, name)
		if err != nil {
			return nil, err
		}
		l.addr[name] = ns.Address
		for _, in := range ns.Instances {
			if _, seen := l.preference[in.Name]; seen {
				continue
			}
			l.preference[in.Name] = in.Preference
			l.vrid[in.Name] = in.VRID
			l.advert = max(l.advert, in.AdvertInterval)
			for _, v := range in.VIPs {
				l.vips = append(l.vips, demoVIP{group: in.Name, prefix: v.Prefix})
			}
		}
	}
	if len(l.vips) == 0 {
		return nil, errors.New("the cluster has no VIPs to fail over")
	}
	sort.Slice(l.vips, func(i, j int) bool {
		if l.vips[i].group != l.vips[j].group {
			return l.vips[i].group < l.vips[j].group
		}
		return l.vips[i].prefix.Addr().Less(l.vips[j].prefix.Addr())
	})
	return l, nil
}

func (l *demoLayout) allNodes() map[string]bool {
	up := map[string]bool{}
	for _, n := range l.nodes {
		up[n] = true
	}
	return up
}

// headline is the group the failover steps act on: the lowest VRID with
// at least two candidates.
func (l *demoLayout) headline() (string, error) {
	best := ""
	for g, pref := range l.preference {
		if len(pref) < 2 {
			continue
		}
		if best == "" || l.vrid[g] < l.vrid[best] || l.vrid[g] == l.vrid[best] && g < best {
			best = g
		}
	}
	if best == "" {
		return "", errors.New("no VIP group has two nodes: nothing can fail over")
	}
	return best, nil
}

// firstVIP is the first address of group g.
func (l *demoLayout) firstVIP(g string) netip.Addr {
	for _, v := range l.vips {
		if v.group == g {
			return v.prefix.Addr()
		}
	}
	return netip.Addr{}
}

// expected says which running node must hold each VIP: the highest
// priority among the group's running candidates ("" when none runs).
// Tracked checks may change priorities at run time; the demo's
// predictions use the configured ones.
func (l *demoLayout) expected(up map[string]bool) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, v := range l.vips {
		winner := ""
		var best uint8
		for _, p := range l.preference[v.group] {
			if !up[p.Node] {
				continue
			}
			if winner == "" || p.Priority > best || p.Priority == best && l.addr[winner].Less(l.addr[p.Node]) {
				winner, best = p.Node, p.Priority
			}
		}
		out[v.prefix.Addr()] = winner
	}
	return out
}

func (l *demoLayout) preferenceRows() [][]string {
	rows := [][]string{{"VIP GROUP", "VRID", "VIPS", "PREFERENCE (PRIORITY)"}}
	groups := make([]string, 0, len(l.preference))
	for g := range l.preference {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		var vips, pref []string
		for _, v := range l.vips {
			if v.group == g {
				vips = append(vips, v.prefix.String())
			}
		}
		for _, p := range l.preference[g] {
			pref = append(pref, fmt.Sprintf("%s %d", p.Node, p.Priority))
		}
		rows = append(rows, []string{g, fmt.Sprint(l.vrid[g]), strings.Join(vips, " "), strings.Join(pref, " > ")})
	}
	return rows
}

// holderRows lists every VIP with its holder. observed (nil: use the
// prediction only) maps each VIP to the nodes that have it on an
// interface; up marks the nodes whose hakeeper runs.
func (l *demoLayout) holderRows(want map[netip.Addr]string, observed map[netip.Addr][]string, up map[string]bool) [][]string {
	rows := [][]string{{"VIP", "GROUP", "HELD BY"}}
	for _, v := range l.vips {
		a := v.prefix.Addr()
		held := want[a]
		if observed != nil {
			var names []string
			for _, node := range observed[a] {
				if !up[node] {
					node += " (stale: its hakeeper is dead)"
				}
				names = append(names, node)
			}
			held = strings.Join(names, ", ")
		}
		if held == "" {
			held = "(nobody)"
		}
		rows = append(rows, []string{a.String(), v.group, held})
	}
	return rows
}

// demoEdit changes the description the way a commit would: the headline
// group's preference order is reversed and it gains one VIP. It returns
// the edited cluster and a line per change.
func demoEdit(c *model.Cluster, headline string, l *demoLayout) (*model.Cluster, []string, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, nil, err
	}
	edited, err := model.Load([]model.File{{Name: "cluster.yaml", Data: b}})
	if err != nil {
		return nil, nil, fmt.Errorf("re-reading the description: %w", err)
	}
	g := edited.VIPGroups[headline]
	var changes []string
	switch {
	case len(g.Nodes) > 1:
		old := strings.Join(g.Nodes, ", ")
		for i, j := 0, len(g.Nodes)-1; i < j; i, j = i+1, j-1 {
			g.Nodes[i], g.Nodes[j] = g.Nodes[j], g.Nodes[i]
		}
		changes = append(changes, fmt.Sprintf("vipGroups.%s.nodes: [%s] -> [%s]", headline, old, strings.Join(g.Nodes, ", ")))
	case len(g.Priorities) > 1:
		hi, lo := "", ""
		for n, p := range g.Priorities {
			if hi == "" || p > g.Priorities[hi] {
				hi = n
			}
			if lo == "" || p < g.Priorities[lo] {
				lo = n
			}
		}
		g.Priorities[hi], g.Priorities[lo] = g.Priorities[lo], g.Priorities[hi]
		changes = append(changes, fmt.Sprintf("vipGroups.%s.priorities: %s and %s swapped", headline, hi, lo))
	default:
		// A spread set chooses the order itself (reversing its node list
		// need not move anything): take the group out of the set and
		// give it the reverse of its current order.
		for name, set := range edited.Spread {
			kept := set.Groups[:0]
			for _, sg := range set.Groups {
				if sg != headline {
					kept = append(kept, sg)
				}
			}
			if len(kept) == len(set.Groups) {
				continue
			}
			set.Groups = kept
			if len(kept) == 0 {
				delete(edited.Spread, name)
			}
			var order, old []string
			for _, p := range l.preference[headline] {
				old = append(old, p.Node)
				order = append([]string{p.Node}, order...)
			}
			g.Nodes = order
			changes = append(changes,
				fmt.Sprintf("spread.%s.groups: - %s", name, headline),
				fmt.Sprintf("vipGroups.%s.nodes: [%s] (chosen by the spread set) -> [%s]", headline, strings.Join(old, ", "), strings.Join(order, ", ")))
		}
	}
	if next, ok := l.freeAddr(headline); ok {
		g.VIPs = append(g.VIPs, model.VIP{Address: next.String()})
		changes = append(changes, fmt.Sprintf("vipGroups.%s.vips: + %s", headline, next))
	}
	if len(changes) == 0 {
		return nil, nil, fmt.Errorf("found nothing to change in VIP group %s", headline)
	}
	if errs := model.Validate(edited); len(errs) > 0 {
		return nil, nil, fmt.Errorf("the demo's edit does not validate: %w", errs)
	}
	return edited, changes, nil
}

// freeAddr picks an address for a new VIP of group g: the next one after
// the group's first VIP, in its prefix, used by no node and no VIP.
func (l *demoLayout) freeAddr(g string) (netip.Prefix, bool) {
	var first netip.Prefix
	used := map[netip.Addr]bool{}
	for _, v := range l.vips {
		used[v.prefix.Addr()] = true
		if v.group == g && !first.IsValid() {
			first = v.prefix
		}
	}
	for _, a := range l.addr {
		used[a] = true
	}
	if !first.IsValid() {
		return netip.Prefix{}, false
	}
	for a, i := first.Addr().Next(), 0; a.IsValid() && first.Contains(a) && i < 256; a, i = a.Next(), i+1 {
		if !used[a] {
			return netip.PrefixFrom(a, first.Bits()), true
		}
	}
	return netip.Prefix{}, false
}

// demoClusterFile is the description as the lab's nodes read it: the
// built-in text verbatim, else the loaded cluster written back as one
// file, without virtual services when the kernel cannot program them.
func demoClusterFile(c *model.Cluster, src demoSource, withServices bool) ([]byte, error) {
	if src.raw != nil && (withServices || len(c.Services) == 0) {
		return src.raw, nil
	}
	cp := *c
	if !withServices {
		cp.Services = nil
	}
	return yaml.Marshal(&cp)
}

// writeAtomically replaces path so a watching node never reads half a
// file. The temporary file is made beside the watched directory, not in
// it, so the nodes see one event: the new file.
func writeAtomically(path string, data []byte) error {
	return renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(filepath.Dir(path))))
}

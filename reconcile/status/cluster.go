package status

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hakeeper/hakeeper/reconcile/source"
)

// ClusterView is every node as one node sees it: itself from its own
// report, the others from what they reported over the peer channel, and
// the invariant "exactly one master per VIP group" checked from that.
// `hakeeper status --cluster --json` prints it.
type ClusterView struct {
	Nodes  []ClusterNode  `json:"nodes"`
	Groups []ClusterGroup `json:"groups"`
	// OK is true when every VRRP group has exactly one master, counted
	// over all its candidates (every one answered), and every bgp group
	// an announcer.
	OK bool `json:"ok"`
}

// ClusterNode is one node's line.
type ClusterNode struct {
	Node      string            `json:"node"`
	Reachable bool              `json:"reachable"`
	Error     string            `json:"error,omitempty"`
	Applied   string            `json:"applied,omitempty"`
	Settled   bool              `json:"settled"`
	Healthy   bool              `json:"healthy"`
	Roles     map[string]string `json:"roles"`
}

// A bgp group's role on a node (ClusterNode.Roles, PeerGroup.State):
// it has no master, every healthy member announces.
const (
	StateAnnouncing = "announcing"
	StateWithdrawn  = "withdrawn"
)

// BGPRole is a bgp group's role on the node reporting it.
func BGPRole(g BGPGroup) string {
	if len(g.Announced) > 0 {
		return StateAnnouncing
	}
	return StateWithdrawn
}

// ClusterGroup is one VIP group's masters and the verdict on them.
type ClusterGroup struct {
	Name    string   `json:"name"`
	Masters []string `json:"masters"`
	// BGP marks a bgp group: Announcers are the nodes announcing it,
	// and it is ok while there is one ("none announcing" otherwise).
	BGP        bool     `json:"bgp,omitempty"`
	Announcers []string `json:"announcers,omitempty"`
	// Unknown lists the nodes that did not answer: the verdict cannot
	// count them.
	Unknown []string `json:"unknown,omitempty"`
	// Verdict is ok, "split brain", "no master", "none announcing" or
	// "unverified".
	Verdict string `json:"verdict"`
}

// Cluster builds the view from a daemon's report.
func Cluster(r *Report) ClusterView {
	self := ClusterNode{Node: r.Node, Reachable: true, Healthy: r.Healthy, Roles: map[string]string{}}
	if r.Applied != nil {
		self.Applied = r.Applied.ID
	}
	for _, g := range r.VIPGroups {
		self.Roles[g.Name] = g.State
	}
	if r.BGP != nil {
		for _, g := range r.BGP.Groups {
			self.Roles[g.Name] = BGPRole(g)
		}
	}
	if r.Rollout != nil {
		self.Settled = r.Rollout.Settled
	}
	v := ClusterView{Nodes: []ClusterNode{self}, OK: true}
	if r.Rollout != nil {
		for _, p := range r.Rollout.Peers {
			n := ClusterNode{Node: p.Node, Reachable: p.Reachable, Error: p.Error, Applied: p.Applied, Settled: p.Settled, Healthy: p.Healthy, Roles: map[string]string{}}
			for _, g := range p.Groups {
				n.Roles[g.Name] = g.State
			}
			v.Nodes = append(v.Nodes, n)
		}
	}
	groups := map[string]*ClusterGroup{}
	for _, n := range v.Nodes {
		for name, role := range n.Roles {
			g := groups[name]
			if g == nil {
				g = &ClusterGroup{Name: name, Masters: []string{}}
				groups[name] = g
			}
			g.BGP = g.BGP || role == StateAnnouncing || role == StateWithdrawn
			switch {
			case !n.Reachable:
				g.Unknown = append(g.Unknown, n.Node)
			case role == "master":
				g.Masters = append(g.Masters, n.Node)
			case role == StateAnnouncing:
				g.Announcers = append(g.Announcers, n.Node)
			}
		}
	}
	// A node never heard from has no roles: it is unknown in the groups
	// this node knows it a candidate of, and, for groups this node does
	// not run, in all of them.
	candidates := map[string][]string{}
	for _, g := range r.VIPGroups {
		candidates[g.Name] = g.Candidates
	}
	for _, n := range v.Nodes {
		if n.Reachable {
			continue
		}
		for _, g := range groups {
			c, known := candidates[g.Name]
			if !slices.Contains(g.Unknown, n.Node) && (!known || len(c) == 0 || slices.Contains(c, n.Node)) {
				g.Unknown = append(g.Unknown, n.Node)
			}
		}
	}
	for _, g := range groups {
		slices.Sort(g.Masters)
		slices.Sort(g.Unknown)
		slices.Sort(g.Announcers)
		switch {
		case g.BGP && len(g.Announcers) > 0:
			g.Verdict = "ok"
		case g.BGP && len(g.Unknown) == 0:
			g.Verdict = "none announcing"
		case len(g.Masters) > 1:
			g.Verdict = "split brain"
		case len(g.Unknown) > 0:
			g.Verdict = "unverified"
		case len(g.Masters) == 0:
			g.Verdict = "no master"
		default:
			g.Verdict = "ok"
		}
		if g.Verdict != "ok" {
			v.OK = false
		}
		v.Groups = append(v.Groups, *g)
	}
	slices.SortFunc(v.Groups, func(a, b ClusterGroup) int { return strings.Compare(a.Name, b.Name) })
	return v
}

// WriteCluster prints the view for people.
func WriteCluster(w io.Writer, v ClusterView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	var names []string
	for _, g := range v.Groups {
		names = append(names, g.Name)
	}
	p("NODE\tREACHABLE\tAPPLIED\tSETTLED\tHEALTHY")
	for _, g := range names {
		p("\t%s", strings.ToUpper(g))
	}
	p("\n")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, n := range v.Nodes {
		p("%s\t%s\t%s\t%s\t%s", n.Node, yes(n.Reachable), dash(source.ShortID(n.Applied)), yes(n.Settled), yes(n.Healthy))
		for _, g := range names {
			p("\t%s", dash(n.Roles[g]))
		}
		p("\n")
	}
	bgp := slices.ContainsFunc(v.Groups, func(g ClusterGroup) bool { return g.BGP })
	for _, wantBGP := range []bool{false, true} {
		header := "\nVIP GROUP\tMASTERS\tVERDICT\n"
		if wantBGP {
			header = "\nBGP GROUP\tANNOUNCING\tVERDICT\n"
		} else if !bgp {
			p("%s", header) // printed even without groups
			header = ""
		}
		for _, g := range v.Groups {
			if g.BGP != wantBGP {
				continue
			}
			p("%s", header)
			header = ""
			verdict := g.Verdict
			if len(g.Unknown) > 0 {
				verdict += " (no report from " + strings.Join(g.Unknown, ", ") + ")"
			}
			who := g.Masters
			if g.BGP {
				who = g.Announcers
			}
			p("%s\t%s\t%s\n", g.Name, dash(strings.Join(who, ", ")), verdict)
		}
	}
	for _, n := range v.Nodes {
		if n.Error != "" {
			p("\n%s unreachable: %s", n.Node, n.Error)
		}
	}
	if v.OK && bgp {
		p("\nexactly one master per VRRP group, every candidate reporting; every bgp group announced\n")
	} else if v.OK {
		p("\nexactly one master per VIP group, every candidate reporting\n")
	} else {
		p("\nNOT OK: see the verdicts above\n")
	}
	return tw.Flush()
}

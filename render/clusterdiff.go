package render

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hakeeper/hakeeper/reconcile/clusterdiff"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// DiffText writes a cluster diff as people read it in a terminal: the
// cluster summary (VIPs changing master, services, recreated groups,
// nodes left alone), then each changed node's plan as `plan` prints it.
func DiffText(w io.Writer, d *clusterdiff.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "hakeeper diff %s -> %s, every node:\n", d.Old, d.New)
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(bw, "\n%s\n", title)
		for _, l := range lines {
			fmt.Fprintln(bw, "  "+l)
		}
	}
	section("VIPs changing master:", vipMoveLines(d))
	section("IPVS services:", serviceLines(d))
	section("VIP groups recreated (their VIPs are held by nobody meanwhile):", recreatedLines(d))
	section("BGP announcements:", bgpLines(d))
	section("Notes:", d.Notes)
	if u := d.Unchanged(); len(u) > 0 {
		fmt.Fprintf(bw, "\nNodes with no change: %s\n", strings.Join(u, ", "))
	}
	for _, n := range d.Nodes {
		if n.Status == clusterdiff.NodeUnchanged {
			continue
		}
		fmt.Fprintf(bw, "\n=== node %s (%s)\n", n.Node, n.Status)
		if err := PlanText(bw, n.Plan, Options{}); err != nil {
			return err
		}
	}
	fmt.Fprintf(bw, "\n%s\n", summaryLine(d))
	return bw.Flush()
}

// DiffMarkdown writes a cluster diff as a pull-request comment: the
// summary and tables first, each changed node's plan folded.
func DiffMarkdown(w io.Writer, d *clusterdiff.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### hakeeper diff `%s` → `%s`\n\n**%s**\n", d.Old, d.New, summaryLine(d))
	if len(d.VIPMoves) > 0 {
		fmt.Fprintf(bw, "\n#### VIPs changing master\n\n| VIP group | VIPs | from | to | why |\n|---|---|---|---|---|\n")
		for _, m := range d.VIPMoves {
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s: %s |\n", cell(m.Group), cell(strings.Join(m.VIPs, ", ")),
				cell(none(m.From)), cell(none(m.To)), m.Reason, cell(m.Detail))
		}
	} else {
		fmt.Fprintf(bw, "\nNo VIP changes master.\n")
	}
	if len(d.Services) > 0 {
		fmt.Fprintf(bw, "\n#### IPVS services\n\n| service | change | real servers |\n|---|---|---|\n")
		for _, s := range d.Services {
			action := s.Action
			if s.Action == "recreate" {
				action = "⚠️ recreate: connections reset (" + fieldsText(s.Identity) + ")"
			}
			fmt.Fprintf(bw, "| %s (%s) | %s | %s |\n", cell(s.Service), cell(s.Name), cell(action), cell(realServerText(s)))
		}
	}
	list := func(title string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(bw, "\n#### %s\n\n- %s\n", title, strings.Join(items, "\n- "))
		}
	}
	list("⚠️ VIP groups recreated", recreatedLines(d))
	if len(d.BGP) > 0 {
		fmt.Fprintf(bw, "\n#### BGP announcements\n\n| VIP group | VIPs | announcing | change |\n|---|---|---|---|\n")
		for _, b := range d.BGP {
			fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", cell(b.Group), cell(strings.Join(b.VIPs, ", ")), cell(none(strings.Join(b.Announcers, ", "))), cell(b.Detail))
		}
	}
	list("Notes", d.Notes)
	fmt.Fprintf(bw, "\n#### Nodes\n\n")
	if u := d.Unchanged(); len(u) > 0 {
		fmt.Fprintf(bw, "No change: %s\n\n", strings.Join(u, ", "))
	}
	for _, n := range d.Nodes {
		if n.Status == clusterdiff.NodeUnchanged {
			continue
		}
		var buf bytes.Buffer
		if err := PlanText(&buf, n.Plan, Options{}); err != nil {
			return err
		}
		s := n.Plan.Summary()
		fmt.Fprintf(bw, "<details><summary>%s (%s): %d to add, %d to change, %d to destroy</summary>\n\n```\n%s```\n\n</details>\n\n",
			n.Node, n.Status, s.Add, s.Change, s.Destroy, buf.String())
	}
	return bw.Flush()
}

func summaryLine(d *clusterdiff.Diff) string {
	s := d.Summary()
	return fmt.Sprintf("%s change, %d unchanged; %s master; %s recreated. Plan: %d to add, %d to change, %d to destroy.",
		plural(s.NodesChanged, "node"), s.NodesUnchanged, plural(s.VIPMoves, "VIP changes", "VIPs change"),
		plural(s.ServicesRecreated+s.GroupsRecreated, "service or VIP group", "services or VIP groups"), s.Add, s.Change, s.Destroy)
}

// plural is "1 node", "2 nodes", or with an explicit plural form.
func plural(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func vipMoveLines(d *clusterdiff.Diff) []string {
	var out []string
	for _, m := range d.VIPMoves {
		out = append(out, fmt.Sprintf("%s %s: %s -> %s (%s: %s)", m.Group, strings.Join(m.VIPs, ", "), none(m.From), none(m.To), m.Reason, m.Detail))
	}
	return out
}

func serviceLines(d *clusterdiff.Diff) []string {
	var out []string
	for _, s := range d.Services {
		sym := map[string]string{"create": "+", "delete": "-", "update": "~", "recreate": "!"}[s.Action]
		l := fmt.Sprintf("%s %s %s: %s", sym, s.Service, s.Name, s.Action)
		if s.Action == "recreate" {
			l += " (connections reset: " + fieldsText(s.Identity) + ")"
		}
		if rs := realServerText(s); rs != "" {
			l += "; " + rs
		}
		out = append(out, l)
	}
	return out
}

func recreatedLines(d *clusterdiff.Diff) []string {
	var out []string
	for _, g := range d.Recreated {
		out = append(out, fmt.Sprintf("%s: %s; its VIPs are down for up to %s (the new master's master-down interval)", g.Group, fieldsText(g.Fields), g.Outage))
	}
	return out
}

func bgpLines(d *clusterdiff.Diff) []string {
	var out []string
	for _, b := range d.BGP {
		out = append(out, fmt.Sprintf("%s %s: %s (announcing: %s)", b.Group, strings.Join(b.VIPs, ", "), b.Detail, none(strings.Join(b.Announcers, ", "))))
	}
	return out
}

// realServerText says what happens to a service's real servers.
func realServerText(s clusterdiff.ServiceChange) string {
	var parts []string
	add := func(label string, list []string) {
		if len(list) > 0 {
			parts = append(parts, label+" "+strings.Join(list, ", "))
		}
	}
	add("added", s.Added)
	add("removed", s.Removed)
	add("drained", s.Drained)
	add("undrained", s.Undrained)
	if len(s.Weights) > 0 {
		parts = append(parts, "weight "+fieldsText(s.Weights))
	}
	if s.Action == "update" || s.Action == "recreate" {
		parts = append(parts, fmt.Sprintf("%g%% of the weight moves", s.WeightMoved))
	}
	return strings.Join(parts, "; ")
}

func fieldsText(fs []plan.FieldChange) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %s -> %s", f.Name, none(f.Old), none(f.New)))
	}
	return strings.Join(parts, ", ")
}

func none(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

// writeAnnounced writes a bgp group's outcome: who announces, who the
// routers prefer (med/asPath), who withdrew and how fast the routers see it.
func writeAnnounced(w io.Writer, g clusterdiff.GroupOutcome) {
	fmt.Fprintf(w, "announced by %s", strings.Join(g.Announcers, ", "))
	switch {
	case g.Before == "":
	case g.After != g.Before:
		fmt.Fprintf(w, ", preferred %s -> %s", g.Before, g.After)
	default:
		fmt.Fprintf(w, ", preferred %s", g.After)
	}
	if g.Withdrawn != nil {
		fmt.Fprintf(w, "; %s withdrawn (%s)", strings.Join(g.Withdrawn, ", "), g.Reason)
	}
	if g.Window > 0 {
		lost := "no flow lost"
		if g.Outage {
			lost = "its flows lost meanwhile"
		}
		fmt.Fprintf(w, ", routers move its traffic within %s, %s\n      %s", g.Window, lost, g.Timers)
	}
	fmt.Fprintln(w)
}

// SimulateText writes a simulation: each VIP group's holder, each
// service's state, and what failed.
func SimulateText(w io.Writer, s *clusterdiff.Simulation) error {
	bw := bufio.NewWriter(w)
	var failed []string
	for _, n := range s.Failures.Nodes {
		failed = append(failed, "node "+n)
	}
	for _, c := range s.Failures.Checks {
		failed = append(failed, "tracked check "+c)
	}
	for _, r := range s.Failures.RealServers {
		failed = append(failed, "real server "+r)
	}
	if len(failed) == 0 {
		failed = []string{"nothing (every node healthy)"}
	}
	fmt.Fprintf(bw, "hakeeper simulate, failed: %s\n\nVIP groups:\n", strings.Join(failed, ", "))
	for _, g := range s.Groups {
		fmt.Fprintf(bw, "  %s %s: ", g.Group, strings.Join(g.VIPs, ", "))
		switch {
		case g.After == "" && g.Announcers == nil && g.Withdrawn != nil:
			fmt.Fprintf(bw, "announced by NOBODY: %s\n", g.Reason)
		case g.After == "" && g.Announcers == nil:
			fmt.Fprintf(bw, "held by NOBODY (was %s): %s\n", none(g.Before), g.Reason)
		case g.Announcers != nil:
			writeAnnounced(bw, g)
		case g.After == g.Before:
			fmt.Fprintf(bw, "%s (unchanged)\n", g.After)
		default:
			outage := "handed over"
			if g.Outage {
				outage = "held by nobody meanwhile"
			}
			fmt.Fprintf(bw, "%s -> %s within %s, %s (%s)\n      %s\n", g.Before, g.After, g.Window, outage, g.Reason, g.Timers)
		}
	}
	if len(s.Services) > 0 {
		fmt.Fprintf(bw, "\nServices:\n")
	}
	for _, sv := range s.Services {
		state := "ok"
		if sv.QuorumLost {
			state = fmt.Sprintf("QUORUM LOST (%d < %d)", sv.Weight, sv.Quorum)
		}
		holder := sv.Holder
		if holder == "" {
			holder = "nobody"
		}
		fmt.Fprintf(bw, "  %s %s on %s: %s; serving %s", sv.Service, sv.Name, holder, state, sv.Serving)
		if len(sv.Failed) > 0 {
			fmt.Fprintf(bw, "; failed %s", strings.Join(sv.Failed, ", "))
		}
		fmt.Fprintln(bw)
	}
	if s.Degraded() {
		fmt.Fprintf(bw, "\nDegraded: a VIP group or a service is left without what it needs.\n")
	}
	return bw.Flush()
}

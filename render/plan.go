package render

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// Options tune text output.
type Options struct {
	// Color marks creates green, updates yellow and deletes red with ANSI
	// escapes. The CLI turns it on only for a terminal or on request.
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiDim    = "\x1b[2m"
)

func (o Options) paint(code, s string) string {
	if !o.Color {
		return s
	}
	return code + s + ansiReset
}

func actionColor(a plan.Action) string {
	switch a {
	case plan.Create:
		return ansiGreen
	case plan.Update:
		return ansiYellow
	case plan.Delete:
		return ansiRed
	}
	return ansiDim
}

// PlanText writes a plan as people read it: changes grouped by VIP group
// and service, each with its attributes aligned, then the summary line.
func PlanText(w io.Writer, p *plan.Plan, opt Options) error {
	bw := bufio.NewWriter(w)
	sum := p.Summary()
	if sum.Empty() {
		writeNotes(bw, p, opt)
		fmt.Fprintln(bw, opt.paint(ansiBold, "No changes.")+" The node is in sync.")
		return bw.Flush()
	}
	fmt.Fprintf(bw, "hakeeper will perform the following actions on node %s:\n", p.Node)
	fmt.Fprintf(bw, "  %s create   %s update in place   %s destroy\n",
		opt.paint(ansiGreen, "+"), opt.paint(ansiYellow, "~"), opt.paint(ansiRed, "-"))

	var section, group string
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == plan.Note {
			continue
		}
		if s := sectionTitle(c.Kind); s != section || c.Group != group {
			section, group = s, c.Group
			fmt.Fprintf(bw, "\n  %s\n", opt.paint(ansiBold, "# "+s+" "+c.Group))
		}
		writeChange(bw, c, opt)
	}
	fmt.Fprintln(bw)
	writeNotes(bw, p, opt)
	fmt.Fprintf(bw, "%s %d to add, %d to change, %d to destroy.\n", opt.paint(ansiBold, "Plan:"), sum.Add, sum.Change, sum.Destroy)
	return bw.Flush()
}

// sectionTitle heads each group of changes: what a change's Group names.
func sectionTitle(k plan.Kind) string {
	switch k {
	case plan.KindInstance, plan.KindVIP:
		return "VIP group"
	case plan.KindSyncGroup:
		return "sync group"
	case plan.KindTrackedCheck:
		return "tracked check"
	case plan.KindRealServerVIP, plan.KindLink, plan.KindSysctl:
		return "real-server role of"
	case plan.KindMarkRule:
		return "fwmark rules of service"
	case plan.KindBGP:
		return "BGP speaker of"
	case plan.KindBGPPeer:
		return "BGP peer"
	case plan.KindBGPGroup:
		return "BGP group"
	case plan.KindSyncDaemon:
		return "connection sync of VIP group"
	}
	return "service"
}

func writeChange(w *bufio.Writer, c *plan.Change, opt Options) {
	sym := opt.paint(actionColor(c.Action), c.Action.Symbol())
	fmt.Fprintf(w, "  %s %s %s\n", sym, c.Kind, c.Name)
	width := 0
	for _, f := range c.Fields {
		width = max(width, len(f.Name))
	}
	for _, f := range c.Fields {
		pad := strings.Repeat(" ", width-len(f.Name))
		switch c.Action {
		case plan.Create:
			fmt.Fprintf(w, "      %s%s = %s\n", f.Name, pad, f.New)
		case plan.Delete:
			fmt.Fprintf(w, "      %s%s = %s\n", f.Name, pad, opt.paint(ansiDim, f.Old))
		default:
			// An unset value shows as (none).
			fmt.Fprintf(w, "      %s%s = %s -> %s\n", f.Name, pad, cmp.Or(f.Old, "(none)"), cmp.Or(f.New, "(none)"))
		}
	}
}

func writeNotes(w *bufio.Writer, p *plan.Plan, opt Options) {
	n := 0
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action != plan.Note {
			continue
		}
		if n == 0 {
			fmt.Fprintln(w, "Not managed by hakeeper (left alone):")
		}
		n++
		fmt.Fprintf(w, "  %s %s %s\n", opt.paint(ansiDim, "#"), c.Kind, c.Name)
	}
	if n > 0 {
		fmt.Fprintln(w)
	}
}

// JSON writes the machine format of `show --json` (a model.NodeState) or
// `plan --json` (a plan.Plan), indented, with a trailing newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

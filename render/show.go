package render

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// ShowText writes one node's desired state for people: each VIP group
// with its priority here and who takes over next, each virtual service
// with its real servers and checks, then tracked checks and sync groups.
func ShowText(w io.Writer, ns *model.NodeState) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Node %s of cluster %s\n", ns.Node, ns.Cluster)
	addr := ns.Address.String()
	if ns.Address6.IsValid() {
		addr += ", " + ns.Address6.String()
	}
	if ns.Interface != "" { // a node that is only a real server runs no VRRP
		addr += " on " + ns.Interface
	}
	fmt.Fprintf(bw, "  address %s\n", addr)
	fmt.Fprintf(bw, "  %s, %s, %s\n", count(len(ns.Instances), "VIP group"), count(len(ns.Services), "service"), count(len(ns.Checks), "tracked check"))

	for i := range ns.Instances {
		showInstance(bw, ns.Node, &ns.Instances[i])
	}
	for i := range ns.Services {
		showService(bw, &ns.Services[i])
	}
	showRealServer(bw, ns.RealServer)
	showBGP(bw, ns.BGP)
	showConnectionSync(bw, ns.ConnectionSync)
	if len(ns.Checks) > 0 {
		fmt.Fprintf(bw, "\nTracked checks\n")
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		for _, c := range ns.Checks {
			user := ""
			if c.User != "" {
				user = "\tas " + c.User
			}
			fmt.Fprintf(tw, "  %s\t%s\tevery %s timeout %s\trise %d fall %d\t%s%s\n",
				c.Name, strconv.Quote(c.Command.String()), c.Interval, c.Timeout, c.Rise, c.Fall, trackEffect(c.Weight), user)
		}
		tw.Flush()
	}
	if len(ns.SyncGroups) > 0 {
		fmt.Fprintf(bw, "\nSync groups\n")
		for _, sg := range ns.SyncGroups {
			fmt.Fprintf(bw, "  %s: %s\n", sg.Name, strings.Join(sg.Instances, ", "))
			writeNotify(bw, "    ", sg.Notify)
		}
	}
	return bw.Flush()
}

// count is "1 service", "3 services".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// trackEffect says what a failing tracked object does to the group.
func trackEffect(w int) string {
	if w == 0 {
		return "faults the group"
	}
	return "weight " + strconv.Itoa(w)
}

// attrs writes aligned "label  value" lines, skipping empty values.
type attrs struct {
	w      *bufio.Writer
	indent string
}

func (a attrs) line(label, value string) {
	if value == "" {
		return
	}
	fmt.Fprintf(a.w, "%s%-16s %s\n", a.indent, label, value)
}

// list writes one value a line, the label on the first.
func (a attrs) list(label string, values []string) {
	for _, v := range values {
		fmt.Fprintf(a.w, "%s%-16s %s\n", a.indent, label, v)
		label = ""
	}
}

func showInstance(w *bufio.Writer, node string, in *model.Instance) {
	fmt.Fprintf(w, "\nVIP group %s\n", in.Name)
	a := attrs{w, "  "}
	a.line("vrid", strconv.Itoa(int(in.VRID)))
	a.line("interface", in.Interface+" ("+string(in.Family)+")")
	a.line("version", strconv.Itoa(in.Version))
	a.line("advert interval", in.AdvertInterval.String())
	a.line("priority here", strconv.Itoa(int(in.Priority)))
	a.line("preference", preferenceOrder(node, in.Preference))
	a.line("next master", nextMaster(node, in.Preference))
	a.line("initial state", string(in.InitialState))
	preempt := "no"
	if in.Preempt {
		preempt = "yes"
		if in.PreemptDelay > 0 {
			preempt += ", after " + in.PreemptDelay.String()
		}
	}
	a.line("preempt", preempt)
	if in.Unicast {
		a.line("adverts", "unicast from "+in.SourceAddress.String())
		a.line("peers", plan.AddrList(in.Peers))
	} else {
		a.line("adverts", "multicast")
	}
	a.line("auth", plan.AuthString(in.Auth))
	vips := make([]string, len(in.VIPs))
	for i, v := range in.VIPs {
		vips[i] = plan.VIPName(v)
	}
	a.list("vips", vips)
	var tracks []string
	for _, t := range in.TrackInterfaces {
		tracks = append(tracks, "interface "+t.Interface+" ("+trackEffect(t.Weight)+")")
	}
	for _, t := range in.TrackChecks {
		tracks = append(tracks, "check "+t.Check+" ("+trackEffect(t.Weight)+")")
	}
	a.list("tracks", tracks)
	a.line("sync group", in.SyncGroup)
	a.line("garp", plan.GARP(in.GARP))
	writeNotify(w, "  ", in.Notify)
}

// preferenceOrder is the full takeover order, this node marked:
// "lb1 200 (this node) > lb2 100 > lb3 50".
func preferenceOrder(node string, pref []model.NodePriority) string {
	parts := make([]string, len(pref))
	for i, p := range pref {
		parts[i] = p.Node + " " + strconv.Itoa(int(p.Priority))
		if p.Node == node {
			parts[i] += " (this node)"
		}
	}
	return strings.Join(parts, " > ")
}

// nextMaster names who takes the VIPs if the preferred master fails.
func nextMaster(node string, pref []model.NodePriority) string {
	if len(pref) < 2 {
		return ""
	}
	next := pref[1].Node
	if next == node {
		next += " (this node)"
	}
	return next + ", if " + pref[0].Node + " fails"
}

func writeNotify(w *bufio.Writer, indent string, n model.NotifySpec) {
	a := attrs{w, indent}
	a.line("notify master", n.Master.String())
	a.line("notify backup", n.Backup.String())
	a.line("notify fault", n.Fault.String())
	a.line("notify stop", n.Stop.String())
	if n.HasHooks() {
		t := "timeout " + n.Timeout.String()
		if n.User != "" {
			t += ", as " + n.User
		}
		a.line("notify runs", t)
	}
}

func showService(w *bufio.Writer, vs *model.VirtualService) {
	fmt.Fprintf(w, "\nService %s  %s\n", vs.Name, plan.ServiceName(vs))
	a := attrs{w, "  "}
	a.line("vip group", cmp.Or(vs.Group, "(none: every node programs it)"))
	for _, m := range vs.Match {
		a.line("marks", string(m.Protocol)+" "+m.Address.String()+" ports "+m.Ports.String())
	}
	sched := vs.Scheduler
	if len(vs.SchedulerFlags) > 0 {
		sched += " (" + strings.Join(vs.SchedulerFlags, ", ") + ")"
	}
	a.line("scheduler", sched)
	a.line("forwarding", string(vs.Forwarding))
	a.line("persistence", cmp.Or(plan.Persistence(vs), "none"))
	a.line("quorum", strconv.Itoa(vs.Quorum))
	if vs.SorryServer != nil {
		a.line("sorry server", plan.RealServerName(vs.SorryServer))
	}
	failed := "removed"
	if vs.Drain {
		failed = "drained (weight 0)"
	}
	a.line("failed servers", failed)
	if vs.StartDown {
		a.line("start", "down until the first check passes")
	}
	fmt.Fprintf(w, "  real servers\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		limits := ""
		if rs.UpperThreshold != 0 || rs.LowerThreshold != 0 {
			limits = fmt.Sprintf("  conns %d..%d", rs.LowerThreshold, rs.UpperThreshold)
		}
		fmt.Fprintf(tw, "    %s\tweight %d%s\tcheck %s\n", plan.RealServerName(rs), rs.Weight, limits, plan.CheckString(rs.Check))
	}
	tw.Flush()
}

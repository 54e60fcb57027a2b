package clusterdiff

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// A bgp group has no master: every healthy member announces its VIPs and
// the routers pick (ECMP: all of them; med/asPath: the most preferred).
// So diff reports such groups apart from the VRRP VIP moves, by who
// announces and who the routers prefer.

// BGPChange is what a change does to a group announced over BGP in
// either revision.
type BGPChange struct {
	Group string   `json:"group"`
	VIPs  []string `json:"vips"`
	// OldMode and NewMode are vrrp or bgp ("" where the group is absent);
	// the preferences ecmp, med or asPath ("" outside bgp).
	OldMode       string `json:"oldMode,omitempty"`
	NewMode       string `json:"newMode,omitempty"`
	OldPreference string `json:"oldPreference,omitempty"`
	NewPreference string `json:"newPreference,omitempty"`
	// Announcers are the nodes announcing under NEW, every node healthy;
	// Started and Stopped the ones that begin or cease to.
	Announcers []string `json:"announcers"`
	Started    []string `json:"started,omitempty"`
	Stopped    []string `json:"stopped,omitempty"`
	// Rehashed, for a group ECMP in both revisions, is the least share
	// of flows, in percent, the routers send to another director: a
	// resilient hash keeps the flows of the k directors in both sets,
	// k/max(old, new) of them; a plain modulo hash may move more.
	Rehashed float64 `json:"rehashed,omitempty"`
	// From and To are the director carrying the traffic (the VRRP master,
	// or the preferred announcer of med/asPath); empty for ECMP or none.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Detail string `json:"detail"`
}

// bgpMember is a node announcing a bgp group, with its rank in the
// group's preference order (0 for every member of an ECMP group).
type bgpMember struct {
	node string
	rank int
}

func (v *view) isBGP(group string) bool {
	g := v.c.VIPGroups[group]
	return g != nil && g.Mode == model.ModeBGP
}

func (v *view) mode(group string) (mode, pref string) {
	g := v.c.VIPGroups[group]
	switch {
	case g == nil:
		return "", ""
	case g.Mode != model.ModeBGP:
		return model.ModeVRRP, ""
	}
	return model.ModeBGP, cmp.Or(g.BGPPreference, "ecmp")
}

// announcers lists the members of bgp group g, most preferred first.
func (v *view) announcers(g string) []bgpMember {
	var out []bgpMember
	for _, n := range v.nodes {
		if b := v.states[n].BGP; b != nil {
			if i := slices.IndexFunc(b.Groups, func(bg model.BGPGroup) bool { return bg.Name == g }); i >= 0 {
				out = append(out, bgpMember{node: n, rank: int(b.Groups[i].MED) + b.Groups[i].Prepend})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b bgpMember) int { return cmp.Compare(a.rank, b.rank) })
	return out
}

// carrier is who carries g's traffic with every node healthy: the VRRP
// master, the preferred announcer of an active/backup bgp group, or ""
// for ECMP (everyone) and nobody.
func (v *view) carrier(g string) string {
	if !v.isBGP(g) {
		return v.master(g)
	}
	if _, pref := v.mode(g); pref == "ecmp" {
		return ""
	}
	if a := v.announcers(g); len(a) > 0 {
		return a[0].node
	}
	return ""
}

func nodesOf(ms []bgpMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.node)
	}
	return out
}

// bgpChanges lists the groups bgp in either revision whose mode,
// preference, announcers or preferred director change.
func (d *Diff) bgpChanges(ov, nv *view) {
	groups := sortedSet(append(slices.Collect(maps.Keys(ov.c.VIPGroups)), slices.Collect(maps.Keys(nv.c.VIPGroups))...))
	for _, g := range groups {
		if !ov.isBGP(g) && !nv.isBGP(g) {
			continue
		}
		c := BGPChange{Group: g}
		c.OldMode, c.OldPreference = ov.mode(g)
		c.NewMode, c.NewPreference = nv.mode(g)
		oa, na := nodesOf(ov.announcers(g)), nodesOf(nv.announcers(g))
		c.Announcers = orEmpty(na)
		c.Started, c.Stopped = minus(na, oa), minus(oa, na)
		c.From, c.To = ov.carrier(g), nv.carrier(g)
		var parts []string
		if c.OldMode != c.NewMode || c.OldPreference != c.NewPreference {
			parts = append(parts, "mode "+modeText(c.OldMode, c.OldPreference)+" -> "+modeText(c.NewMode, c.NewPreference))
		}
		// A VIP moving to or from a bgp group has no VIP move line: say it here.
		was, is := ov.groupVIPs(g), nv.groupVIPs(g)
		if c.OldMode != "" && c.NewMode != "" {
			if add := minus(is, was); add != nil {
				parts = append(parts, "VIPs added "+strings.Join(add, ", "))
			}
			if gone := minus(was, is); gone != nil {
				parts = append(parts, "VIPs removed "+strings.Join(gone, ", "))
			}
		}
		if c.Started != nil {
			parts = append(parts, verb(c.Started, "start")+" announcing")
		}
		if c.Stopped != nil {
			parts = append(parts, verb(c.Stopped, "stop")+" announcing")
		}
		if c.OldPreference == "ecmp" && c.NewPreference == "ecmp" && len(oa) > 0 && (c.Started != nil || c.Stopped != nil) {
			kept := len(oa) - len(c.Stopped)
			c.Rehashed = math.Round((1-float64(kept)/float64(max(len(oa), len(na))))*1000) / 10
			parts = append(parts, fmt.Sprintf("ECMP over %d -> %d directors: at least %g%% of flows move to another director", len(oa), len(na), c.Rehashed))
		}
		if c.From != c.To {
			parts = append(parts, carrierText(ov, nv, g, c))
		}
		if len(parts) == 0 {
			continue
		}
		if len(na) == 0 && c.NewMode == model.ModeBGP {
			parts = append(parts, "nobody announces the VIPs")
		}
		c.VIPs = is
		if c.NewMode == "" {
			c.VIPs = was
		}
		c.Detail = strings.Join(parts, "; ")
		d.BGP = append(d.BGP, c)
	}
}

// minus is a without b's elements (nil when empty).
func minus(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

// verb is "lb3 starts" or "lb1, lb2 start".
func verb(nodes []string, v string) string {
	if len(nodes) == 1 {
		return nodes[0] + " " + v + "s"
	}
	return strings.Join(nodes, ", ") + " " + v
}

func modeText(mode, pref string) string {
	switch {
	case mode == "":
		return "(none)"
	case pref != "":
		return mode + " " + pref
	}
	return mode
}

// carrierText says why the director carrying the traffic changes.
func carrierText(ov, nv *view, g string, c BGPChange) string {
	head := fmt.Sprintf("carried by %s -> %s", ov.carrierName(g, c.From), nv.carrierName(g, c.To))
	if c.NewPreference == "ecmp" || c.OldPreference == "ecmp" || c.OldMode != c.NewMode {
		return head
	}
	om, nm := ov.announcers(g), nv.announcers(g)
	switch {
	case c.From != "" && !slices.Contains(nodesOf(nm), c.From):
		return head + " (" + c.From + " no longer announces)"
	case c.To != "" && !slices.Contains(nodesOf(om), c.To):
		return head + " (" + c.To + " joined the group)"
	case c.To == "" || c.From == "":
		return head
	}
	attr := map[string]string{model.PreferenceMED: "MED", model.PreferenceASPath: "AS-path prepends"}[c.NewPreference]
	rank := func(ms []bgpMember, n string) int {
		return ms[slices.IndexFunc(ms, func(m bgpMember) bool { return m.node == n })].rank
	}
	return fmt.Sprintf("%s (the preference order changed: %s %s %d < %s %d, was %s %d, %s %d)", head, attr,
		c.To, rank(nm, c.To), c.From, rank(nm, c.From), c.To, rank(om, c.To), c.From, rank(om, c.From))
}

func (v *view) carrierName(g, node string) string {
	switch {
	case node != "":
		return node
	case v.isBGP(g) && len(v.announcers(g)) > 0:
		return "every announcer"
	}
	return "(none)"
}

// groupVIPs lists g's VIPs in address order.
func (v *view) groupVIPs(g string) []string {
	vips := v.vipGroups()
	var out []string
	for _, a := range slices.SortedFunc(maps.Keys(vips), netip.Addr.Compare) {
		if vips[a].group == g {
			out = append(out, vips[a].prefix.String())
		}
	}
	return out
}

// simulateBGP finds who announces bgp group g once the failures settled,
// by the controller's rules: a member withdraws while a tracked check
// fails on it or a service of the group is below its quorum, and a
// crashed member's routes last until the routers notice (BFD, else the
// hold time). ECMP groups are served while anyone announces; with
// med/asPath the most preferred announcer carries the traffic.
func (v *view) simulateBGP(g string, fl *failed) GroupOutcome {
	out := GroupOutcome{Group: g, VIPs: v.groupVIPs(g)}
	ms := v.announcers(g)
	if len(ms) == 0 {
		return out
	}
	_, pref := v.mode(g)
	var why, timers []string
	for _, m := range ms {
		cause, window, timer := v.withdrawal(m.node, g, fl)
		if cause == "" {
			out.Announcers = append(out.Announcers, m.node)
			continue
		}
		out.Withdrawn = append(out.Withdrawn, m.node)
		why = append(why, cause)
		timers = append(timers, timer)
		// Flows the routers still send to a crashed member are lost
		// until they notice; a member withdrawing itself still serves.
		carried := pref == "ecmp" || m.node == ms[0].node
		out.Outage = out.Outage || fl.nodes[m.node] && carried
		if carried {
			out.Window = max(out.Window, window)
		}
	}
	if pref != "ecmp" {
		out.Before = ms[0].node
		if len(out.Announcers) > 0 {
			out.After = out.Announcers[0]
		}
		if out.After == out.Before {
			out.Window, out.Outage = 0, false
		}
	}
	if len(why) > 0 {
		out.Reason = strings.Join(why, "; ")
		if len(out.Announcers) == 0 {
			out.Reason = "no member announces: " + out.Reason
			out.Outage = true
		}
	}
	if out.Window > 0 {
		out.Timers = strings.Join(timers, "; ")
	}
	return out
}

// withdrawal says why node stops announcing g ("" when it does not),
// and how long until the routers stop sending it traffic.
func (v *view) withdrawal(node, g string, fl *failed) (cause string, window time.Duration, timer string) {
	st := v.states[node]
	if fl.nodes[node] {
		window, timer = v.routerDetection(st)
		return node + " failed", window, node + ": " + timer
	}
	bg := st.BGP.Groups[slices.IndexFunc(st.BGP.Groups, func(b model.BGPGroup) bool { return b.Name == g })]
	for _, name := range bg.TrackChecks {
		if fl.checks[node][name] {
			i := slices.IndexFunc(st.Checks, func(t model.TrackCheckSpec) bool { return t.Name == name })
			d := time.Duration(st.Checks[i].Fall) * st.Checks[i].Interval
			return node + ": tracked check " + name + " failing", d,
				fmt.Sprintf("%s: detection %s = fall %d × interval %s, then withdrawn at once", node, d, st.Checks[i].Fall, st.Checks[i].Interval)
		}
	}
	for _, name := range bg.Services {
		i := slices.IndexFunc(st.Services, func(s model.VirtualService) bool { return s.Name == name })
		if w := v.healthyWeight(&st.Services[i], fl); w < st.Services[i].Quorum {
			return fmt.Sprintf("%s: service %s below quorum (%d < %d)", node, name, w, st.Services[i].Quorum), 0, node + ": withdrawn once the real servers' checks see it"
		}
	}
	return "", 0, ""
}

// routerDetection is how long the routers keep a crashed node's routes:
// BFD's interval × multiplier on a session running it, else the hold
// time; the slowest of the node's sessions.
func (v *view) routerDetection(st *model.NodeState) (time.Duration, string) {
	var worst time.Duration
	text := ""
	for _, p := range st.BGP.Peers {
		d, t := p.HoldTime, fmt.Sprintf("hold time %s (peer %s)", p.HoldTime, p.Address)
		if p.BFDInterval > 0 {
			d = time.Duration(p.BFDMultiplier) * p.BFDInterval
			t = fmt.Sprintf("BFD %s = %d × %s (peer %s)", d, p.BFDMultiplier, p.BFDInterval, p.Address)
		}
		if d > worst || text == "" {
			worst, text = d, t
		}
	}
	return worst, text
}

package clusterdiff

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// Failures is what Simulate assumes has failed.
type Failures struct {
	// Nodes that crashed: they send nothing and hold nothing.
	Nodes []string `json:"nodes"`
	// Checks are tracked checks failing, "NAME" on every node running it
	// or "NAME@NODE" on one.
	Checks []string `json:"checks"`
	// RealServers failing their health checks, "ADDRESS" (every port) or
	// "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6), in every service.
	RealServers []string `json:"realServers"`
}

// Simulation is who holds what once the failures have settled.
type Simulation struct {
	Failures Failures
	Groups   []GroupOutcome
	Services []ServiceOutcome
}

// GroupOutcome is a VIP group's holder before and after the failures.
type GroupOutcome struct {
	Group string   `json:"group"`
	VIPs  []string `json:"vips"`
	// Before is the holder with every node healthy, After the one once the
	// failures settled; empty is nobody.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Reason says why the holder changed (empty when it did not).
	Reason string `json:"reason,omitempty"`
	// Window is the predicted time from the failure to the new holder
	// taking the VIPs, and Timers how it is made up.
	Window time.Duration `json:"-"`
	Timers string        `json:"timers,omitempty"`
	// Outage is whether the VIPs are held by nobody during Window (a
	// crash or a fault), not merely handed over (a priority drop). For a
	// bgp group: whether the routers send flows to a crashed member
	// meanwhile.
	Outage bool `json:"outage"`
	// Announcers are a bgp group's members still announcing once the
	// failures settled (Before and After are then the preferred ones of
	// med/asPath, empty for ECMP); Withdrawn the ones that stop.
	Announcers []string `json:"announcers,omitempty"`
	Withdrawn  []string `json:"withdrawn,omitempty"`
}

// MarshalJSON writes the window as a duration string.
func (g GroupOutcome) MarshalJSON() ([]byte, error) {
	type plain GroupOutcome
	w := ""
	if g.Window > 0 {
		w = g.Window.String()
	}
	return json.Marshal(struct {
		plain
		Window string `json:"window,omitempty"`
	}{plain(g), w})
}

// ServiceOutcome is an IPVS service once the failures settled.
type ServiceOutcome struct {
	Service string `json:"service"`
	Name    string `json:"name"`
	// Holder is the node holding the service's VIPs (for a fwmark
	// service without a group "every node", or the nodes left; empty:
	// nobody).
	Holder string `json:"holder,omitempty"`
	// Failed are the service's real servers that fail.
	Failed []string `json:"failed,omitempty"`
	// Weight is the weight of the healthy real servers, of Total.
	Weight int `json:"weight"`
	Total  int `json:"total"`
	Quorum int `json:"quorum"`
	// QuorumLost is Weight < Quorum: the sorry server, if any, replaces
	// the real servers.
	QuorumLost bool `json:"quorumLost"`
	// Serving says who answers the service's clients.
	Serving string `json:"serving"`
}

// Degraded reports whether some VIP group is held by nobody, or some
// service lost its quorum or its holder.
func (s *Simulation) Degraded() bool {
	return slices.ContainsFunc(s.Groups, func(g GroupOutcome) bool { return g.After == "" && g.Announcers == nil }) ||
		slices.ContainsFunc(s.Services, func(sv ServiceOutcome) bool { return sv.QuorumLost || sv.Holder == "" })
}

// MarshalJSON writes the machine format.
func (s *Simulation) MarshalJSON() ([]byte, error) {
	f := s.Failures
	f.Nodes, f.Checks, f.RealServers = orEmpty(f.Nodes), orEmpty(f.Checks), orEmpty(f.RealServers)
	return json.Marshal(struct {
		FormatVersion int              `json:"formatVersion"`
		Failures      Failures         `json:"failures"`
		Degraded      bool             `json:"degraded"`
		Groups        []GroupOutcome   `json:"groups"`
		Services      []ServiceOutcome `json:"services"`
	}{FormatVersion, f, s.Degraded(), orEmpty(s.Groups), orEmpty(s.Services)})
}

// failed is Failures checked against the description.
type failed struct {
	nodes map[string]bool
	// checks[node][check] is a failing tracked check.
	checks map[string]map[string]bool
	// servers are failing real servers; a zero port matches every port.
	servers []netip.AddrPort
}

// Simulate predicts, from the description c alone, who holds each VIP
// group and what each service serves once f has happened. A node, check
// or real server f names that c does not have is an error.
func Simulate(c *model.Cluster, f Failures) (*Simulation, error) {
	v, err := resolve(c)
	if err != nil {
		return nil, err
	}
	fl, err := v.failed(f)
	if err != nil {
		return nil, err
	}
	s := &Simulation{Failures: f}
	holders := map[string]string{}
	for _, g := range slices.Sorted(maps.Keys(c.VIPGroups)) {
		var out GroupOutcome
		if v.isBGP(g) {
			out = v.simulateBGP(g, fl)
		} else {
			out = v.simulateGroup(g, fl)
		}
		holders[g] = cmp.Or(out.After, strings.Join(out.Announcers, ", "))
		s.Groups = append(s.Groups, out)
	}
	for _, name := range v.serviceNames() {
		s.Services = append(s.Services, v.simulateService(name, holders, fl))
	}
	return s, nil
}

func (v *view) failed(f Failures) (*failed, error) {
	fl := &failed{nodes: map[string]bool{}, checks: map[string]map[string]bool{}}
	for _, n := range f.Nodes {
		if v.states[n] == nil {
			return nil, fmt.Errorf("failed node %q is not in the cluster description (nodes: %s)", n, strings.Join(v.nodes, ", "))
		}
		fl.nodes[n] = true
	}
	for _, spec := range f.Checks {
		name, node, one := strings.Cut(spec, "@")
		if v.c.Checks[name] == nil {
			return nil, fmt.Errorf("failed check %q: no tracked check %q in the cluster description", spec, name)
		}
		if one && v.states[node] == nil {
			return nil, fmt.Errorf("failed check %q: node %q is not in the cluster description", spec, node)
		}
		found := false
		for _, n := range v.nodes {
			st := v.states[n]
			if one && n != node || !slices.ContainsFunc(st.Checks, func(t model.TrackCheckSpec) bool { return t.Name == name }) {
				continue
			}
			if fl.checks[n] == nil {
				fl.checks[n] = map[string]bool{}
			}
			fl.checks[n][name], found = true, true
		}
		if !found {
			return nil, fmt.Errorf("failed check %q: no VIP group tracks it on that node", spec)
		}
	}
	for _, spec := range f.RealServers {
		ap, err := netip.ParseAddrPort(spec)
		if err != nil {
			a, aerr := netip.ParseAddr(spec)
			if aerr != nil {
				return nil, fmt.Errorf("failed real server %q: want ADDRESS or ADDRESS:PORT", spec)
			}
			ap = netip.AddrPortFrom(a, 0)
		}
		if !v.hasRealServer(ap) {
			return nil, fmt.Errorf("failed real server %q is in no service of the cluster description", spec)
		}
		fl.servers = append(fl.servers, ap)
	}
	return fl, nil
}

func (v *view) hasRealServer(ap netip.AddrPort) bool {
	for _, name := range v.serviceNames() {
		for _, rs := range v.service(name).RealServers {
			if matches(ap, rs) {
				return true
			}
		}
	}
	return false
}

func matches(ap netip.AddrPort, rs model.RealServerSpec) bool {
	return ap.Addr() == rs.Address && (ap.Port() == 0 || ap.Port() == rs.Port)
}

// state is a member once the failures are in.
type state struct {
	member
	down bool
	// fault is why the member faulted; "" when it did not.
	fault string
	// checks are the failing tracked checks of the member's instance.
	checks []string
}

// simulateGroup applies the failures to one group's members and elects
// its holder as vrrpd would: crashed and faulted nodes drop out, failing
// checks move priorities by their weights, and with preempt off a
// master still running keeps the VIPs.
func (v *view) simulateGroup(g string, fl *failed) GroupOutcome {
	ms := v.members(g)
	out := GroupOutcome{Group: g}
	if len(ms) == 0 {
		return out
	}
	for _, vip := range ms[0].inst.VIPs {
		out.VIPs = append(out.VIPs, vip.Prefix.String())
	}
	out.Before = ms[0].node
	var states []state
	for _, m := range ms {
		s := state{member: m, down: fl.nodes[m.node]}
		s.prio, s.fault, s.checks = v.tracked(m, fl)
		states = append(states, s)
	}
	slices.SortStableFunc(states, func(a, b state) int { return electionOrder(a.member, b.member) })
	up := slices.DeleteFunc(slices.Clone(states), func(s state) bool { return s.down || s.fault != "" })
	before := states[slices.IndexFunc(states, func(s state) bool { return s.node == out.Before })]
	switch {
	case len(up) == 0:
		out.Reason = "no member is left: " + strings.Join(causes(states), "; ")
		out.Outage = true
		return out
	case !before.down && before.fault == "" && !before.inst.Preempt:
		out.After = before.node
	default:
		out.After = up[0].node
	}
	if out.After == out.Before {
		return out
	}
	next := up[0]
	down := masterDown(next.inst, next.prio)
	timers := fmt.Sprintf("master-down interval %s = 3×%s + skew %s", down, next.inst.AdvertInterval, skew(next.inst, next.prio))
	detect, detectText := v.detection(before)
	switch {
	case before.down:
		out.Reason = before.node + " failed"
		out.Window, out.Timers, out.Outage = down, timers, true
	case before.fault != "":
		// A faulting master resigns with a priority-0 advert: the
		// backups take over after Skew_Time.
		sk := skew(next.inst, next.prio)
		out.Reason = before.node + " faulted: " + before.fault
		out.Window, out.Outage = detect+sk, true
		out.Timers = detectText + " + skew " + sk.String() + " (the master resigns with priority 0)"
	default:
		// A lower-priority master keeps sending adverts; a preempting
		// backup ignores them and takes over when its timer runs out.
		out.Reason = fmt.Sprintf("%s's priority drops to %d (%s), below %s's %d", before.node, before.prio,
			strings.Join(before.checks, ", ")+" failing", next.node, next.prio)
		out.Window, out.Timers = detect+down, detectText+" + "+timers+" (no outage: "+before.node+" holds the VIPs until then)"
	}
	return out
}

// tracked is a member's effective priority and fault with the failing
// checks in, by vrrpd's rules; a member of a sync group faults when
// another member of it on the same node does.
func (v *view) tracked(m member, fl *failed) (prio int, fault string, failing []string) {
	failingOn := fl.checks[m.node]
	faultOf := func(in *model.Instance) string {
		for _, t := range in.TrackChecks {
			if failingOn[t.Check] && t.Weight == 0 {
				return "tracked check " + t.Check + " failing"
			}
		}
		return ""
	}
	fault = faultOf(m.inst)
	if fault == "" && m.inst.SyncGroup != "" {
		for i := range v.states[m.node].Instances {
			in := &v.states[m.node].Instances[i]
			if in.SyncGroup == m.inst.SyncGroup && in.Name != m.inst.Name {
				if f := faultOf(in); f != "" {
					fault = "sync group " + in.SyncGroup + ": " + in.Name + ": " + f
				}
			}
		}
	}
	for _, t := range m.inst.TrackChecks {
		if failingOn[t.Check] {
			failing = append(failing, "tracked check "+t.Check)
		}
	}
	return priority(m.inst, failingOn), fault, failing
}

// detection is how long, at most, the master's failing checks take to be
// seen: fall runs, an interval apart.
func (v *view) detection(s state) (time.Duration, string) {
	var worst time.Duration
	text := ""
	for _, t := range v.states[s.node].Checks {
		if !slices.Contains(s.checks, "tracked check "+t.Name) && !strings.Contains(s.fault, "tracked check "+t.Name+" ") {
			continue
		}
		if d := time.Duration(t.Fall) * t.Interval; d > worst {
			worst, text = d, fmt.Sprintf("detection %s = fall %d × interval %s", d, t.Fall, t.Interval)
		}
	}
	return worst, text
}

func causes(states []state) []string {
	var out []string
	for _, s := range states {
		switch {
		case s.down:
			out = append(out, s.node+" failed")
		case s.fault != "":
			out = append(out, s.node+" faulted ("+s.fault+")")
		}
	}
	return out
}

// simulateService finds who serves a service once the failures settled.
func (v *view) simulateService(name string, holders map[string]string, fl *failed) ServiceOutcome {
	vs := v.service(name)
	out := ServiceOutcome{Service: name, Name: plan.ServiceName(vs), Quorum: vs.Quorum, Holder: holders[vs.Group]}
	if vs.Group == "" {
		out.Holder = v.survivors(name, fl)
	}
	for _, rs := range vs.RealServers {
		out.Total += rs.Weight
		if v.serverFailed(rs, fl) {
			out.Failed = append(out.Failed, plan.RealServerName(&rs))
		}
	}
	out.Weight = v.healthyWeight(vs, fl)
	out.QuorumLost = out.Weight < out.Quorum
	switch {
	case out.Holder == "":
		out.Serving = "nothing: no node holds the VIPs"
	case !out.QuorumLost:
		out.Serving = "real servers (weight " + strconv.Itoa(out.Weight) + " of " + strconv.Itoa(out.Total) + ")"
	case vs.SorryServer != nil && !v.serverFailed(*vs.SorryServer, fl):
		out.Serving = "sorry server " + plan.RealServerName(vs.SorryServer)
	default:
		out.Serving = "nothing: quorum lost and no sorry server"
	}
	return out
}

// healthyWeight is the weight of a service's real servers not failing.
func (v *view) healthyWeight(vs *model.VirtualService, fl *failed) int {
	w := 0
	for _, rs := range vs.RealServers {
		if !v.serverFailed(rs, fl) {
			w += rs.Weight
		}
	}
	return w
}

// survivors names the nodes still programming a service without a VIP
// group: "every node" when none of them failed, "" when all did.
func (v *view) survivors(service string, fl *failed) string {
	var up []string
	lost := false
	for _, n := range v.nodes {
		if !slices.ContainsFunc(v.states[n].Services, func(s model.VirtualService) bool { return s.Name == service }) {
			continue
		}
		if fl.nodes[n] {
			lost = true
		} else {
			up = append(up, n)
		}
	}
	if !lost && len(up) > 0 {
		return "every node"
	}
	return strings.Join(up, ", ")
}

// serverFailed reports whether a real server fails: named in the
// failures, or a failed node's address.
func (v *view) serverFailed(rs model.RealServerSpec, fl *failed) bool {
	for _, ap := range fl.servers {
		if matches(ap, rs) {
			return true
		}
	}
	for n := range fl.nodes {
		if st := v.states[n]; st.Address == rs.Address || st.Address6.IsValid() && st.Address6 == rs.Address {
			return true
		}
	}
	return false
}

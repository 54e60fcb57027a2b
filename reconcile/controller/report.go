package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// reportState is what the status report needs beyond live snapshots.
type reportState struct {
	running   *model.NodeState                  // the desired state in force
	effective map[string][]model.RealServerSpec // service name → servers in IPVS
	applied   *status.Revision
	fetched   *status.Revision
	last      *status.Pass
	lastError *status.Failure
	// pending is set from a failed fetch or a refused revision until a
	// fetch finds the source's newest revision applied: the node serves
	// the last good revision meanwhile, but is not following its source.
	pending *stageError
	drift   status.Drift
	// unmanaged and conflicts are IPVS keys the last sync found in the
	// kernel but not hakeeper's; a conflict is logged when it first shows.
	unmanaged []string
	conflicts []string
}

// setPending records (or, with nil, clears) why the node is not running
// its source's newest revision.
func (c *Controller) setPending(err *stageError) {
	c.mu.Lock()
	c.report.pending = err
	c.mu.Unlock()
}

// degradation says why the node is degraded, "" when it is not. Called
// with c.mu held.
func (c *Controller) degradation() string {
	switch {
	case c.report.running == nil:
		return "no revision applied yet"
	case c.report.last != nil && c.report.last.Result == "error" && !c.failedOnPending():
		return "last pass failed: " + c.report.lastError.Stage + ": " + oneLine(c.report.lastError.Message)
	case c.report.pending != nil:
		serving := ""
		if c.report.applied != nil {
			serving = "; serving revision " + source.ShortID(c.report.applied.ID)
		}
		p := c.report.pending
		if p.stage == "fetch" && !p.refused {
			return "fetching the newest revision failed: " + oneLine(p.err.Error()) + serving
		}
		return "revision " + source.ShortID(p.revision) + " refused (" + p.stage + "): " + oneLine(p.err.Error()) + serving
	}
	return ""
}

// failedOnPending reports whether the last pass failed only because it
// refused the pending revision: the status then reads the same right
// after the refusal as after later passes ("revision X refused (load)").
// Called with c.mu held.
func (c *Controller) failedOnPending() bool {
	p, e := c.report.pending, c.report.lastError
	return p != nil && e != nil && p.stage == e.Stage && p.revision != "" && p.revision == e.Revision
}

// Degradation is the reason the node is degraded, "" when healthy; the
// status server adds it to /healthz, which stays 200 while the node serves.
func (c *Controller) Degradation() string {
	c.mu.Lock()
	d := c.degradation()
	c.mu.Unlock()
	return withVRRPAlerts(d, c.cfg.Engine.Status())
}

// withVRRPAlerts adds to why the VIP groups that need an operator: a
// suspected split brain (both sides may hold the VIPs) or a group
// faulted because its advert cannot be encoded.
func withVRRPAlerts(why string, groups []vrrpd.InstanceStatus) string {
	var out []string
	if why != "" {
		out = append(out, why)
	}
	for _, g := range groups {
		if g.AdvertError != "" {
			out = append(out, "group "+g.Name+" faulted: "+g.AdvertError)
		}
		if g.SplitBrain != "" {
			out = append(out, "group "+g.Name+": "+g.SplitBrain)
		}
	}
	return strings.Join(out, "; ")
}

func revisionInfo(rev *source.Revision, at time.Time) *status.Revision {
	return &status.Revision{ID: rev.ID, Summary: rev.Summary, Time: rev.Time, At: at}
}

// setFetched records the newest revision the source fetched; refused
// marks one it fetched but would not deliver.
func (c *Controller) setFetched(rev *source.Revision, refused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := revisionInfo(rev, c.cfg.Now())
	f.Refused = refused
	if old := c.report.fetched; old != nil && old.ID == rev.ID {
		f.Summary, f.Time = old.Summary, old.Time // a directory's Time stays when it was first read
	}
	c.report.fetched = f
}

func (c *Controller) noteDrift(vips, ipvs uint64, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.drift.VIPRepairs += vips
	c.report.drift.IPVSRepairs += ipvs
	c.report.drift.Last = c.cfg.Now()
	c.report.drift.LastWhat = what
}

func (c *Controller) finishPass(trigger string, d time.Duration, res Result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &status.Pass{Time: c.cfg.Now(), Trigger: trigger, Duration: d, IPVSOperations: res.IPVSOps, VRRPApplied: res.VRRPApplied}
	switch {
	case err != nil:
		p.Result = "error"
	case res.Applied:
		p.Result = "applied"
	case res.Repaired > 0:
		p.Result = "repaired"
	default:
		p.Result = "in-sync"
	}
	c.report.last = p
	if err == nil {
		return
	}
	f := &status.Failure{Time: p.Time, Message: err.Error(), Stage: "apply"}
	var se *stageError
	if errors.As(err, &se) {
		f.Stage, f.Revision, f.Message = se.stage, se.revision, se.err.Error()
	}
	c.report.lastError = f
}

// Status returns the report /status serves, with VRRP and health read
// live from the engine and the checker.
func (c *Controller) Status() *status.Report {
	c.mu.Lock()
	r := &status.Report{
		Node:            c.cfg.Node,
		Source:          c.cfg.Source.String(),
		StateDir:        c.cfg.StateDir,
		Applied:         c.report.applied,
		Fetched:         c.report.fetched,
		LastReconcile:   c.report.last,
		LastError:       c.report.lastError,
		Drift:           c.report.drift,
		Degraded:        c.degradation(),
		UnmanagedIPVS:   c.report.unmanaged,
		ConflictingIPVS: c.report.conflicts,
	}
	running := c.report.running
	effective := c.report.effective
	c.mu.Unlock()
	if running != nil {
		r.Cluster = running.Cluster
	}

	engine := c.cfg.Engine.Status()
	r.Degraded = withVRRPAlerts(r.Degraded, engine)
	r.Healthy = r.Degraded == ""
	r.SyncDaemons = c.syncDaemonsReport(running)
	r.VIPGroups = c.vipGroups(running, engine)
	r.TrackChecks = c.trackChecks()
	r.Services = c.services(running, effective)
	r.Rollout = c.rolloutStatus()
	r.BGP = c.bgpStatus(running)
	return r
}

// trackChecks lists the engine's tracked checks (nil without any).
func (c *Controller) trackChecks() []status.TrackCheck {
	var out []status.TrackCheck
	for _, ch := range c.cfg.Engine.CheckStatus() {
		out = append(out, status.TrackCheck{
			Name: ch.Name, Passing: ch.Passing, Since: ch.Since, Rise: ch.Rise, Fall: ch.Fall,
			ConsecutiveOK: ch.ConsecutiveOK, ConsecutiveFail: ch.ConsecutiveFail,
			RunsPassed: ch.Runs.Passed, RunsFailed: ch.Runs.Failed, RunsErrors: ch.Runs.Errors,
			LastRun: ch.LastRun, LastResult: checkResult(ch.LastRun, ch.LastExit, ch.LastError),
			Groups: ch.Groups,
		})
	}
	return out
}

// tracks converts an instance's tracks for the report.
func tracks(in []vrrpd.TrackStatus) []status.Track {
	var out []status.Track
	for _, t := range in {
		out = append(out, status.Track{
			Kind: string(t.Kind), Name: t.Name, Up: t.Up, Weight: t.Weight, Contribution: t.Contribution,
			Fault: t.Fault, Since: t.Since, LastRun: t.LastRun, LastResult: checkResult(t.LastRun, t.LastExit, t.LastError),
		})
	}
	return out
}

// checkResult words a tracked check's last result: pass, "exit N", or
// the error that kept it from running; "" before the first run.
func checkResult(ran time.Time, exit int, errText string) string {
	switch {
	case ran.IsZero():
		return ""
	case errText != "":
		return errText
	case exit == 0:
		return "pass"
	}
	return fmt.Sprintf("exit %d", exit)
}

func (c *Controller) vipGroups(running *model.NodeState, engine []vrrpd.InstanceStatus) []status.VIPGroup {
	byKey := map[model.InstanceKey]*model.Instance{}
	if running != nil {
		for i := range running.Instances {
			byKey[running.Instances[i].Key()] = &running.Instances[i]
		}
	}
	present := map[string][]netip.Prefix{}
	out := []status.VIPGroup{}
	for _, st := range engine {
		g := status.VIPGroup{
			Name: st.Name, Interface: st.Key.Interface, Family: string(st.Key.Family), VRID: st.Key.VRID,
			State: string(st.State), Priority: st.Priority, BasePriority: st.BasePriority,
			Since: st.LastTransition, Reason: st.Reason, Transitions: st.Counters.Transitions,
			AdvertsSent: st.Counters.AdvertsSent, AdvertsRecv: st.Counters.AdvertsReceived,
			VIPs: []status.VIP{}, Tracks: tracks(st.Tracks),
			SplitBrain: st.SplitBrain, AdvertError: st.AdvertError,
		}
		if st.MasterAddr.IsValid() {
			g.Master = st.MasterAddr.String()
		}
		if in := byKey[st.Key]; in != nil {
			for _, np := range in.Preference {
				g.Candidates = append(g.Candidates, np.Node)
			}
			for _, v := range in.VIPs {
				vip := status.VIP{Address: v.Prefix.String(), Device: v.Device}
				if c.cfg.Addrs != nil {
					have, ok := present[v.Device]
					if !ok {
						have, _ = c.cfg.Addrs.List(v.Device)
						present[v.Device] = have
					}
					vip.Present = slices.ContainsFunc(have, func(p netip.Prefix) bool { return p.Addr() == v.Prefix.Addr() })
				}
				g.VIPs = append(g.VIPs, vip)
			}
		}
		out = append(out, g)
	}
	return out
}

func (c *Controller) services(running *model.NodeState, effective map[string][]model.RealServerSpec) []status.Service {
	out := []status.Service{}
	if running == nil {
		return out
	}
	health := map[check.Key]check.ServerStatus{}
	if c.cfg.Checker != nil {
		for _, s := range c.cfg.Checker.Status() {
			health[s.Key] = s
		}
	}
	for _, vs := range running.Services {
		svc, _ := lvs.FromModel(vs)
		s := status.Service{Name: vs.Name, Key: svc.Key().String(), RealServers: []status.RealServer{}}
		inIPVS := map[netip.AddrPort]model.RealServerSpec{}
		for _, rs := range effective[vs.Name] {
			inIPVS[netip.AddrPortFrom(rs.Address, rs.Port)] = rs
		}
		add := func(rs model.RealServerSpec, sorry bool) {
			r := status.RealServer{Address: netip.AddrPortFrom(rs.Address, rs.Port).String(), Health: "unchecked", Sorry: sorry}
			if e, ok := inIPVS[netip.AddrPortFrom(rs.Address, rs.Port)]; ok {
				r.InIPVS, r.Weight = true, e.Weight
			}
			if rs.Check != nil && !sorry && c.cfg.Checker != nil {
				r.Health = "down"
				if h, ok := health[check.KeyOf(&vs, &rs)]; ok {
					if h.Healthy {
						r.Health = "up"
					}
					r.Check, r.LastCheck, r.LastChange, r.Latency = h.Check, h.LastCheck, h.LastChange, h.LastLatency
					r.LastResult = checkResult(h.LastCheck, 0, h.LastError)
				}
			}
			s.RealServers = append(s.RealServers, r)
		}
		for _, rs := range vs.RealServers {
			add(rs, false)
		}
		if vs.SorryServer != nil {
			add(*vs.SorryServer, true)
		}
		out = append(out, s)
	}
	return out
}

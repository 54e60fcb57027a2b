package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// The ordered rollout and the rollback on bad health (docs/operations.md,
// "Rolling a revision out across the cluster"). A revision that changes
// a VIP group's instance or services is held back by the group's master
// until every other node of the group reports, over the peer channel, the
// revision applied and settled and itself healthy, or until Rollout.Wait
// has passed. After
// a change, a node watches what the change added or altered for
// Rollout.Window; if one of those fails, it returns to the last revision
// that settled and marks the new one bad, which its peers then see and
// do not apply.

// DefaultRolloutWait bounds how long a master holds a revision back for
// its backups: long enough for them to fetch it (a poll), apply it and
// watch it for DefaultHealthWindow, short enough that a backup down for
// maintenance delays a change by minutes, not for ever.
const DefaultRolloutWait = 2 * time.Minute

// DefaultHealthWindow is how long a node watches a change: several
// intervals of the default checks (fall 3 at 1-5 s), so a failing new
// server or check has turned down well before it ends.
const DefaultHealthWindow = 30 * time.Second

// Peers is the authenticated channel to the other nodes (peer.Poller).
type Peers interface {
	// SetNodes gives the cluster's nodes (name → address).
	SetNodes(map[string]string)
	// Status is what every other node last reported.
	Status() []status.Peer
}

// Rollout turns on the ordered rollout and the rollback.
type Rollout struct {
	Peers Peers
	// Wait is the bounded wait of a master (DefaultRolloutWait when 0);
	// Window the health watch (DefaultHealthWindow when 0).
	Wait, Window time.Duration
}

// rolloutState is written by passes only; the reported parts under mu.
type rolloutState struct {
	good    *source.Revision // the last that settled: the rollback target
	settled bool
	watch   *watch
	// waiting is the revision held back for the backups.
	waiting   string
	waitFor   []string
	waitUntil time.Time
	// unconfirmed are the backups the bounded wait ended without.
	unconfirmed []string
	bad         map[string]status.BadRevision
	rollingBack bool

	rollbacks, waitsExpired prometheus.Counter
}

// watch is a change under its health window: only what the revision
// added or altered counts, so a server or check that fails on its own,
// unchanged, is no reason to undo a change.
type watch struct {
	rev     *source.Revision
	until   time.Time
	servers map[check.Key]string // counted real servers → "service server"
	checks  []string             // counted tracked checks
	groups  []string             // counted VIP groups (instances)
}

func (c *Controller) initRollout() {
	c.ro.bad = map[string]status.BadRevision{}
	if c.cfg.Rollout == nil {
		return
	}
	if c.cfg.Rollout.Wait <= 0 {
		c.cfg.Rollout.Wait = DefaultRolloutWait
	}
	if c.cfg.Rollout.Window <= 0 {
		c.cfg.Rollout.Window = DefaultHealthWindow
	}
	c.ro.rollbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hakeeper_rollout_rollbacks_total",
		Help: "Revisions this node applied, then rolled back because what they changed failed its health checks.",
	})
	c.ro.waitsExpired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hakeeper_rollout_wait_expired_total",
		Help: "Revisions a master applied after the bounded wait, without every backup reporting them applied and settled.",
	})
	c.m.Registry.MustRegister(c.ro.rollbacks, c.ro.waitsExpired, clusterCollector{c})
	if path := c.badPath(); path != "" {
		b, err := os.ReadFile(path)
		var marks []status.BadRevision
		if err == nil {
			err = json.Unmarshal(b, &marks)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("bad revision marks unreadable; starting without them", "path", path, "err", err)
		}
		for _, m := range marks {
			c.ro.bad[m.ID] = m
		}
		c.capBad()
	}
}

// maxBadMarks bounds the marks kept: the newest are the ones a
// source can still serve.
const maxBadMarks = 100

// capBad drops the oldest marks beyond maxBadMarks, so memory, the
// metric and the file hold the same; it returns the marks, newest first.
func (c *Controller) capBad() []status.BadRevision {
	marks := slices.SortedFunc(maps.Values(c.ro.bad), func(a, b status.BadRevision) int { return b.At.Compare(a.At) })
	for _, m := range marks[min(len(marks), maxBadMarks):] {
		delete(c.ro.bad, m.ID)
	}
	return marks[:min(len(marks), maxBadMarks)]
}

// badPath is where the bad marks outlive a restart: beside the last good
// revision ("" without one).
func (c *Controller) badPath() string {
	if c.cfg.LastGood == nil {
		return ""
	}
	return filepath.Join(filepath.Dir(c.cfg.LastGood.Path), "bad-revisions.json")
}

// refuseBad keeps a revision marked bad from being applied again.
// At start-up (a mark from before a restart) the last good revision on
// disk runs instead.
func (c *Controller) refuseBad(rev *source.Revision, res *Result) error {
	b, ok := c.ro.bad[rev.ID]
	if !ok {
		return nil
	}
	err := &stageError{stage: "health", revision: rev.ID, err: fmt.Errorf("marked bad (rolled back on %s): %s", b.By, b.Reason)}
	if c.report.running == nil && c.cfg.LastGood != nil {
		if stored, lerr := c.cfg.LastGood.Load(); lerr == nil && stored != nil && stored.ID != rev.ID {
			c.log.Warn("newest revision marked bad: starting with the last good revision from the state directory",
				"revision", source.ShortID(rev.ID), "last-good", source.ShortID(stored.ID))
			if aerr := c.applyRevision(stored, res); aerr != nil {
				return aerr
			}
		}
	}
	c.setPending(err)
	return err
}

// gate decides whether rev may be applied now. hold is set when it may
// not: err is nil while waiting for the backups, and the refusal when a
// peer rolled rev back.
func (c *Controller) gate(rev *source.Revision, cluster *model.Cluster, desired *model.NodeState) (hold bool, err error) {
	r := c.cfg.Rollout
	if r == nil {
		return false, nil
	}
	nodes := map[string]string{}
	for name, n := range cluster.Nodes {
		nodes[name] = n.Address
	}
	r.Peers.SetNodes(nodes)
	prev := c.report.running
	if prev == nil || c.ro.rollingBack {
		return false, nil
	}
	peers := r.Peers.Status()
	for _, p := range peers {
		if slices.Contains(p.Bad, rev.ID) {
			c.endWait(c.ro.unconfirmed)
			c.markBad(rev.ID, p.Node, "health dropped there after applying it")
			c.log.Error("revision rolled back on a peer; not applying it", "revision", source.ShortID(rev.ID), "peer", p.Node)
			return true, c.refuseBad(rev, nil)
		}
	}
	var waitFor []string
	masters := map[string]bool{}
	for _, st := range c.cfg.Engine.Status() {
		masters[st.Name] = st.State == model.StateMaster
	}
	for _, g := range changedGroups(prev, desired) {
		if !masters[g.Name] {
			continue
		}
		for _, np := range g.Preference {
			if np.Node != c.cfg.Node && !slices.Contains(waitFor, np.Node) {
				waitFor = append(waitFor, np.Node)
			}
		}
	}
	var pending []string
	for _, name := range waitFor {
		i := slices.IndexFunc(peers, func(p status.Peer) bool { return p.Node == name })
		if i < 0 || !peers[i].Reachable || peers[i].Applied != rev.ID || !peers[i].Settled || !peers[i].Healthy {
			pending = append(pending, name)
		}
	}
	slices.Sort(pending)
	if len(pending) == 0 {
		if len(waitFor) > 0 {
			c.log.Info("backups applied the revision and it settled there; applying", "revision", source.ShortID(rev.ID), "backups", strings.Join(waitFor, ","))
		}
		c.endWait(nil)
		return false, nil
	}
	now := c.cfg.Now()
	if c.ro.waiting != rev.ID {
		c.mu.Lock()
		c.ro.waiting, c.ro.waitUntil = rev.ID, now.Add(r.Wait)
		c.mu.Unlock()
		c.log.Info("master of a group the revision changes: holding it until the backups report it applied and settled",
			"revision", source.ShortID(rev.ID), "backups", strings.Join(pending, ","), "wait", r.Wait)
		// A pass when the wait ends, should no peer change before.
		time.AfterFunc(r.Wait, func() { c.Trigger("rollout-wait") })
	}
	if !now.Before(c.ro.waitUntil) {
		c.log.Warn("bounded wait over: applying without every backup's report", "revision", source.ShortID(rev.ID),
			"not-reported", strings.Join(pending, ","), "wait", r.Wait)
		c.ro.waitsExpired.Inc()
		c.endWait(pending)
		return false, nil
	}
	c.mu.Lock()
	c.ro.waitFor, c.ro.unconfirmed = pending, nil
	c.mu.Unlock()
	return true, nil
}

// endWait ends the bounded wait; unconfirmed are the backups it ended
// without.
func (c *Controller) endWait(unconfirmed []string) {
	c.mu.Lock()
	c.ro.waiting, c.ro.waitFor, c.ro.waitUntil, c.ro.unconfirmed = "", nil, time.Time{}, unconfirmed
	c.mu.Unlock()
}

func (c *Controller) markBad(id, by, reason string) {
	c.mu.Lock()
	c.ro.bad[id] = status.BadRevision{ID: id, Reason: reason, At: c.cfg.Now(), By: by}
	marks := c.capBad()
	c.mu.Unlock()
	path := c.badPath()
	if path == "" {
		return
	}
	b, err := json.Marshal(marks)
	if err == nil {
		err = lvs.WriteRecord(path, b)
	}
	if err != nil {
		c.log.Warn("recording the bad revision", "path", path, "err", err)
	}
}

// changedGroups lists desired's instances whose settings or services
// differ from prev's (new groups included).
func changedGroups(prev, desired *model.NodeState) []model.Instance {
	services := func(s *model.NodeState, group string) []model.VirtualService {
		var out []model.VirtualService
		for _, vs := range s.Services {
			if vs.Group == group {
				out = append(out, vs)
			}
		}
		return out
	}
	var out []model.Instance
	for _, in := range desired.Instances {
		i := slices.IndexFunc(prev.Instances, func(p model.Instance) bool { return p.Name == in.Name })
		if i < 0 || !reflect.DeepEqual(prev.Instances[i], in) || !reflect.DeepEqual(services(prev, in.Name), services(desired, in.Name)) {
			out = append(out, in)
		}
	}
	return out
}

// applied records rev in force; prev is the state before it (nil at
// start). A change starts its health window; no change settles at once.
func (c *Controller) applied(rev *source.Revision, prev, desired *model.NodeState) {
	if c.cfg.Rollout == nil {
		return
	}
	w := newWatch(prev, desired)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev == nil || c.ro.rollingBack || w == nil {
		c.ro.good, c.ro.settled, c.ro.watch = rev, true, nil
		return
	}
	w.rev, w.until = rev, c.cfg.Now().Add(c.cfg.Rollout.Window)
	c.ro.watch, c.ro.settled = w, false
	time.AfterFunc(c.cfg.Rollout.Window, func() { c.Trigger("health-window") })
}

// newWatch lists what desired adds or alters against prev; nil when that
// is nothing worth watching.
func newWatch(prev, desired *model.NodeState) *watch {
	if prev == nil {
		return nil
	}
	w := &watch{servers: map[check.Key]string{}}
	for _, vs := range desired.Services {
		var old *model.VirtualService
		if i := slices.IndexFunc(prev.Services, func(p model.VirtualService) bool { return p.Name == vs.Name }); i >= 0 {
			old = &prev.Services[i]
		}
		for _, rs := range vs.RealServers {
			if rs.Check == nil {
				continue
			}
			if old != nil && slices.ContainsFunc(old.RealServers, func(o model.RealServerSpec) bool {
				return o.Address == rs.Address && o.Port == rs.Port && reflect.DeepEqual(o.Check, rs.Check)
			}) {
				continue
			}
			w.servers[check.KeyOf(&vs, &rs)] = vs.Name + " " + netip.AddrPortFrom(rs.Address, rs.Port).String()
		}
	}
	for _, ch := range desired.Checks {
		if !slices.ContainsFunc(prev.Checks, func(o model.TrackCheckSpec) bool { return reflect.DeepEqual(o, ch) }) {
			w.checks = append(w.checks, ch.Name)
		}
	}
	for _, in := range changedGroups(prev, desired) {
		w.groups = append(w.groups, in.Name)
	}
	if len(w.servers) == 0 && len(w.checks) == 0 && len(w.groups) == 0 {
		return nil
	}
	return w
}

// healthDrop says what the watched change broke, "" while nothing.
func (c *Controller) healthDrop(w *watch) string {
	if c.cfg.Checker != nil && len(w.servers) > 0 {
		for _, s := range c.cfg.Checker.Status() {
			// Down by a failed check, not merely not yet up (a service
			// starting its servers down, rise not yet reached).
			if what, ok := w.servers[s.Key]; ok && s.Checks > 0 && !s.Healthy && s.LastError != "" {
				return "real server " + what + " fails its check: " + s.LastError
			}
		}
	}
	for _, ch := range c.cfg.Engine.CheckStatus() {
		if slices.Contains(w.checks, ch.Name) && !ch.LastRun.IsZero() && !ch.Passing {
			return "tracked check " + ch.Name + " fails: " + checkResult(ch.LastRun, ch.LastExit, ch.LastError)
		}
	}
	for _, st := range c.cfg.Engine.Status() {
		if slices.Contains(w.groups, st.Name) && st.State == model.StateFault {
			return "VIP group " + st.Name + " faulted: " + st.Reason
		}
	}
	return ""
}

// rolloutPass runs on every pass: it judges the change under watch, and
// rolls it back when it broke something.
func (c *Controller) rolloutPass(res *Result) error {
	w := c.ro.watch
	if w == nil {
		return nil
	}
	if why := c.healthDrop(w); why != "" {
		return c.rollBack(w, why, res)
	}
	if c.cfg.Now().Before(w.until) {
		return nil
	}
	// Logged before reported: a master applies on the report, so this
	// line always comes before that apply.
	c.log.Info("revision settled: what it changed stayed healthy through the window", "revision", source.ShortID(w.rev.ID))
	c.mu.Lock()
	c.ro.good, c.ro.settled, c.ro.watch = w.rev, true, nil
	c.mu.Unlock()
	return nil
}

// rollBack returns to the last revision that settled and marks w's bad.
func (c *Controller) rollBack(w *watch, why string, res *Result) error {
	c.mu.Lock()
	c.ro.watch = nil
	c.mu.Unlock()
	c.markBad(w.rev.ID, c.cfg.Node, why)
	c.ro.rollbacks.Inc()
	good := c.ro.good
	if good == nil { // cannot happen: a change is watched only after an earlier apply
		return errors.New("revision " + source.ShortID(w.rev.ID) + " marked bad, but no settled revision to return to: " + why)
	}
	c.log.Error("health dropped after applying a revision: rolling back", "revision", source.ShortID(w.rev.ID),
		"summary", w.rev.Summary, "back-to", source.ShortID(good.ID), "why", why)
	bad := &stageError{stage: "health", revision: w.rev.ID, err: errors.New("rolled back: " + why)}
	// Degraded before the good revision goes back in: its apply keeps
	// this (applyRevision), so no status read in between finds the node
	// healthy. Set again after: a failed apply records its own error.
	c.setPending(bad)
	c.ro.rollingBack = true
	err := c.applyRevision(good, res)
	c.ro.rollingBack = false
	c.setPending(bad)
	if err != nil {
		return err
	}
	return bad
}

// rolloutStatus is the report's Rollout (nil when off).
func (c *Controller) rolloutStatus() *status.Rollout {
	if c.cfg.Rollout == nil {
		return nil
	}
	c.mu.Lock()
	r := &status.Rollout{Settled: c.ro.settled, Waiting: c.ro.waiting, WaitingFor: c.ro.waitFor, WaitUntil: c.ro.waitUntil, Unconfirmed: c.ro.unconfirmed}
	if w := c.ro.watch; w != nil {
		r.Watching, r.WatchUntil = w.rev.ID, w.until
	}
	for _, id := range slices.Sorted(maps.Keys(c.ro.bad)) {
		r.Bad = append(r.Bad, c.ro.bad[id])
	}
	c.mu.Unlock()
	r.Peers = c.cfg.Rollout.Peers.Status()
	return r
}

// clusterCollector exports what the peers report: whether each is
// reachable, and how many nodes claim each VIP group's mastership (more
// than one is a split brain).
type clusterCollector struct{ c *Controller }

var (
	peerUpDesc = prometheus.NewDesc("hakeeper_peer_up",
		"1 while the peer's status report is received over the authenticated peer channel.", []string{"peer"}, nil)
	vipMastersDesc = prometheus.NewDesc("hakeeper_cluster_vip_masters",
		"Nodes reporting themselves master of the VIP group: this node and every reachable peer. Anything but 1 needs an operator (2 or more: split brain).", []string{"group"}, nil)
	vipAnnouncersDesc = prometheus.NewDesc("hakeeper_cluster_vip_announcers",
		"Nodes announcing the bgp group's VIPs: this node and every reachable peer. 0 needs an operator (nobody serves them).", []string{"group"}, nil)
	badRevisionDesc = prometheus.NewDesc("hakeeper_rollout_bad_revision",
		"1 for each revision marked bad (rolled back here or on the node by), which this node will not apply.", []string{"revision", "by"}, nil)
)

func (cc clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- peerUpDesc
	ch <- vipMastersDesc
	ch <- vipAnnouncersDesc
	ch <- badRevisionDesc
}

func (cc clusterCollector) Collect(ch chan<- prometheus.Metric) {
	// bgp groups have no master: they are counted by announcers.
	masters, announcers := map[string]int{}, map[string]int{}
	cc.c.mu.Lock()
	for g, why := range cc.c.bgp.groups {
		announcers[g] += 0
		if why == "" {
			announcers[g]++
		}
	}
	cc.c.mu.Unlock()
	for _, st := range cc.c.cfg.Engine.Status() {
		masters[st.Name] += 0
		if st.State == model.StateMaster {
			masters[st.Name]++
		}
	}
	for _, p := range cc.c.cfg.Rollout.Peers.Status() {
		up := 0.0
		if p.Reachable {
			up = 1
			for _, g := range p.Groups {
				switch g.State {
				case status.StateAnnouncing:
					announcers[g.Name]++
				case status.StateWithdrawn:
					announcers[g.Name] += 0
				case string(model.StateMaster):
					masters[g.Name]++
				default:
					masters[g.Name] += 0
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(peerUpDesc, prometheus.GaugeValue, up, p.Node)
	}
	cc.c.mu.Lock()
	for _, b := range cc.c.ro.bad {
		ch <- prometheus.MustNewConstMetric(badRevisionDesc, prometheus.GaugeValue, 1, b.ID, b.By)
	}
	cc.c.mu.Unlock()
	for g, n := range masters {
		ch <- prometheus.MustNewConstMetric(vipMastersDesc, prometheus.GaugeValue, float64(n), g)
	}
	for g, n := range announcers {
		ch <- prometheus.MustNewConstMetric(vipAnnouncersDesc, prometheus.GaugeValue, float64(n), g)
	}
}

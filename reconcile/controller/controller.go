// Package controller is hakeeper's reconcile loop on one node: it takes
// revisions of the cluster description from a source, resolves the node's
// desired state, observes what runs, and applies only the differences to
// the VRRP engine, the health checker and IPVS. A revision that does not
// load, validate, resolve or apply changes nothing: the last good one
// keeps running and is kept on disk for the next start. Between
// revisions it repairs drift (VIPs or IPVS entries changed by hand).
//
// Every collaborator is a small interface defined here, satisfied by the
// real types (checked at compile time) and by the fakes in tests.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/bgp"
)

// DefaultInterval is how often drift is checked when nothing else happens.
const DefaultInterval = 10 * time.Second

// DefaultFetchTimeout bounds one fetch from the source. A remote that
// accepts the connection and then stalls must not hold the pass forever:
// health changes and drift repair wait for it, and so would Shutdown.
const DefaultFetchTimeout = time.Minute

// Engine is the VRRP engine.
type Engine interface {
	Apply(*model.NodeState) error
	// RepairVIPs re-adds VIPs missing on master instances and returns them.
	RepairVIPs() []model.VIPSpec
	Status() []vrrpd.InstanceStatus
	CheckStatus() []vrrpd.CheckStatus
	// Drops counts the packets no instance could claim.
	Drops() vrrpd.UnattributedDrops
	Shutdown(context.Context) error
}

// IPVS programs the IPVS table (lvs.Programmer).
type IPVS interface {
	Sync(desired []lvs.VirtualServer) (lvs.Plan, int, error)
}

// Checker runs the real servers' health checks (check.Checker).
type Checker interface {
	Update([]model.VirtualService)
	HealthFunc(model.VirtualService) func(model.RealServerSpec) bool
	Status() []check.ServerStatus
	Changes() <-chan struct{}
	Close()
}

// Fingerprinter summarises the kernel's IPVS table cheaply
// (ipvsproc.Table): equal fingerprints mean an unchanged table, as far as
// the fingerprint can see.
type Fingerprinter interface {
	Fingerprint() (uint64, error)
}

// DefaultFullCheckEvery is how many drift passes in a row may trust an
// unchanged fingerprint before the whole table is read again, to catch
// hand changes the fingerprint cannot see.
const DefaultFullCheckEvery = 6

// Addresses lists the addresses on a device (vrrpd.Addresses).
type Addresses interface {
	List(device string) ([]netip.Prefix, error)
}

var (
	_ Engine    = (*vrrpd.Engine)(nil)
	_ IPVS      = (*lvs.Programmer)(nil)
	_ Checker   = (*check.Checker)(nil)
	_ Addresses = (vrrpd.Addresses)(nil)
)

// Config wires a Controller. Node, Source and Engine are required.
type Config struct {
	Node   string
	Source source.Source
	Engine Engine
	// IPVS is nil on a node without IPVS: revisions with services for
	// this node then fail to apply (and change nothing).
	IPVS IPVS
	// RealServer is nil on a node that cannot be a real server: revisions
	// giving it a real-server role then fail to apply.
	RealServer *realserver.Programmer
	// Marks keeps fwmark services' marking rules; nil on a node without
	// nftables: revisions with match entries for this node then fail.
	Marks marks.Table
	// BGP announces bgp groups' VIPs; nil on a node without it:
	// revisions making the node a member of a bgp group then fail.
	BGP bgp.Speaker
	// SyncDaemons runs IPVS connection sync; nil on a node without IPVS:
	// revisions giving it connectionSync then fail to apply.
	SyncDaemons lvs.SyncDaemons
	// Transitions signals VRRP transitions (vrrpd.Config.OnTransition),
	// on which the sync daemon switches state; nil when none come.
	Transitions <-chan struct{}
	// Checker is nil to treat every real server as up.
	Checker Checker
	// Addrs shows in the status whether each VIP is on its device; nil
	// leaves that unknown.
	Addrs Addresses
	// LastGood persists the applied revision; nil keeps nothing.
	LastGood *LastGood
	// StateDir is the daemon's state directory, shown in the status so
	// 'hakeeper plan' reads the IPVS ownership the daemon records.
	StateDir string
	// Interval between drift checks (DefaultInterval when 0).
	Interval time.Duration
	// FetchTimeout bounds one Source.Latest (DefaultFetchTimeout when 0).
	FetchTimeout time.Duration
	// Fingerprint, when set, lets a drift pass skip reading the IPVS
	// table (one netlink request per service) when the table it wants is
	// unchanged and the kernel's fingerprint equals the one taken when the
	// table was last found in sync. Every FullCheckEvery-th such pass
	// (DefaultFullCheckEvery when 0) reads the whole table anyway.
	Fingerprint    Fingerprinter
	FullCheckEvery int
	// RemoveServicesOnShutdown deletes the IPVS services hakeeper owns on
	// Shutdown. Off by default: traffic keeps flowing while hakeeper
	// restarts, and a restart adopts the table with no change.
	RemoveServicesOnShutdown bool
	Logger                   *slog.Logger
	Metrics                  *Metrics
	// Now is the clock of the status report (time.Now when nil).
	Now func() time.Time
	// Rollout, when set, orders the rollout across the cluster and
	// rolls back changes that fail their health checks (rollout.go).
	Rollout *Rollout
}

// Controller runs the loop. Reconcile passes are serialised; triggers
// arriving during a pass coalesce into one more pass.
type Controller struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	fetchNow chan string

	// pass serialises Reconcile and Shutdown: a one-slot semaphore, so
	// waiting for it can give up when a context ends. The fields below
	// it are written only while it is held.
	pass   chan struct{}
	closed bool // Shutdown ran: later passes do nothing
	// synced is the effective IPVS table of the last successful sync
	// (health applied), to tell drift from health changes.
	synced []lvs.VirtualServer
	// cleanPrint is the kernel's fingerprint taken just before the last
	// sync, when that sync found the kernel holding synced with no write
	// needed (not ok otherwise); trusted counts the passes since skipped.
	cleanPrint ipvsPrint
	trusted    int
	// failed is the last revision refused, so a poll seeing it again
	// does not log it again; refusal is its error when it could not be
	// loaded or resolved, which no retry changes, so the next fetch of
	// the same revision returns it without parsing the files again.
	failed  string
	refusal *stageError
	// fetching is a Source.Latest an earlier pass stopped waiting for
	// (a source deaf to its context): the next pass waits for it rather
	// than starting another beside it.
	fetching chan fetched
	// warned is the last revision whose description warnings were
	// logged, so a retried apply does not log them again.
	warned string
	// syncWant are the sync daemons last made to run (nil: none, or
	// the kernel's left alone).
	syncWant []lvs.SyncDaemon

	// mu guards the report fields, read by Status at any time, and
	// cancelPass, which ends the pass in progress (Shutdown uses it;
	// once that pass has ended, calling it does nothing).
	// Only a pass writes the report, holding mu; being the one writer,
	// a pass reads it without mu.
	mu         sync.Mutex
	cancelPass context.CancelFunc
	report     reportState
	ro         rolloutState
	bgp        bgpState
}

// Result is what one pass did.
type Result struct {
	// Applied is set when a new revision was applied.
	Applied  bool
	Revision string
	// VRRPApplied is set when the engine got a new configuration.
	VRRPApplied bool
	// IPVSOps is how many IPVS writes were made.
	IPVSOps int
	// Repaired counts drift repairs (VIPs re-added, IPVS writes that put
	// back a hand-made change).
	Repaired int
	// FromLastGood is set when the source failed and the revision came
	// from the state directory.
	FromLastGood bool
}

// New checks cfg.
func New(cfg Config) (*Controller, error) {
	if cfg.Node == "" || cfg.Source == nil || cfg.Engine == nil {
		return nil, errors.New("controller: Node, Source and Engine are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.FullCheckEvery <= 0 {
		cfg.FullCheckEvery = DefaultFullCheckEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{
		cfg: cfg, log: cfg.Logger, m: cfg.Metrics,
		fetchNow: make(chan string, 1),
		pass:     make(chan struct{}, 1),
	}
	cfg.Metrics.Registry.MustRegister(vrrpCollector{engine: cfg.Engine}, realServerCollector{ctl: c}, bgpCollector{ctl: c})
	c.initRollout()
	return c, nil
}

// Metrics returns the controller's metrics.
func (c *Controller) Metrics() *Metrics { return c.m }

// Trigger asks for a fetch-and-reconcile pass soon; reason shows in the
// status (watch, webhook, signal). It never blocks: a pass already
// pending absorbs it.
func (c *Controller) Trigger(reason string) {
	select {
	case c.fetchNow <- reason:
	default:
	}
}

// Running returns the desired state in force (nil before the first
// successful apply). It must not be modified.
func (c *Controller) Running() *model.NodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report.running
}

// Start restores the applied revision's ID from the state directory into
// the source (so a Git source refuses a force-push across restarts too)
// and runs the first pass. It fails only when no revision at all could
// be applied: not from the source, not from the state directory.
func (c *Controller) Start(ctx context.Context) (Result, error) {
	if c.cfg.LastGood != nil {
		if rev, err := c.cfg.LastGood.Load(); err != nil {
			c.log.Warn("last good revision unreadable", "path", c.cfg.LastGood.Path, "err", err)
		} else if rev != nil {
			c.cfg.Source.Applied(rev.ID)
		}
	}
	res, err := c.Reconcile(ctx, "start", true)
	if c.Running() == nil {
		if err == nil {
			err = errors.New("no revision applied")
		}
		return res, err
	}
	return res, nil
}

// Run serves triggers until ctx ends: the source's Watch, Trigger calls,
// health changes and the drift interval. Call Start first. It returns
// nil when ctx ends; Shutdown is the caller's next step.
func (c *Controller) Run(ctx context.Context) error {
	go func() {
		if err := c.cfg.Source.Watch(ctx, func() { c.Trigger("watch") }); err != nil {
			c.log.Error("watching the source stopped; polling on the drift interval only", "source", c.cfg.Source.String(), "err", err)
		}
	}()
	var health <-chan struct{}
	if c.cfg.Checker != nil {
		health = c.cfg.Checker.Changes()
	}
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	bgpTick := time.NewTicker(bgpCheckEvery)
	defer bgpTick.Stop()
	// Reconcile logs, counts and reports its own errors.
	for {
		select {
		case <-ctx.Done():
			return nil
		case reason := <-c.fetchNow:
			c.Reconcile(ctx, reason, true)
		case <-health:
			c.Reconcile(ctx, "health", false)
		case <-tick.C:
			c.Reconcile(ctx, "interval", false)
		case <-bgpTick.C:
			if c.bgpChecksChanged() {
				c.Reconcile(ctx, "check", false)
			}
		case <-c.cfg.Transitions:
			c.followTransitions(ctx)
		}
	}
}

// lockPass takes the pass semaphore, or gives up when ctx ends.
func (c *Controller) lockPass(ctx context.Context) error {
	select {
	case c.pass <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Controller) unlockPass() { <-c.pass }

// Shutdown stops the engine gracefully (priority-0 adverts, VIPs
// released) and the checker; IPVS services stay unless configured. A pass
// in progress is cancelled first; if it still does not end before ctx,
// the engine and checker are stopped anyway (they are safe to stop
// concurrently) and the IPVS services are left as they are.
func (c *Controller) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.cancelPass != nil {
		c.cancelPass()
	}
	c.mu.Unlock()
	var errs []error
	passErr := c.lockPass(ctx)
	if passErr != nil {
		c.log.Error("a reconcile pass did not end; stopping without it", "err", passErr)
		errs = append(errs, fmt.Errorf("waiting for the reconcile pass in progress: %w", passErr))
	} else {
		defer c.unlockPass()
		c.closed = true
	}
	// Withdraw before anything stops serving: the routers move the flows
	// away while this node still serves them.
	if err := c.withdrawAndDrain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("BGP: %w", err))
	}
	if err := c.cfg.Engine.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if c.cfg.Checker != nil {
		c.cfg.Checker.Close()
	}
	if passErr == nil {
		if err := c.stopSyncDaemons(); err != nil {
			errs = append(errs, fmt.Errorf("stopping IPVS sync daemons: %w", err))
		}
	}
	if passErr == nil && c.cfg.RemoveServicesOnShutdown && c.cfg.IPVS != nil {
		plan, done, err := c.cfg.IPVS.Sync(nil)
		c.countOps(plan.Ops[:done])
		if err != nil {
			errs = append(errs, fmt.Errorf("removing IPVS services: %w", err))
		} else {
			c.log.Info("removed the IPVS services hakeeper owns", "operations", done)
		}
	}
	if passErr == nil && c.cfg.RemoveServicesOnShutdown && c.cfg.Marks != nil {
		if _, err := marks.Sync(c.cfg.Marks, nil); err != nil {
			errs = append(errs, fmt.Errorf("removing fwmark rules: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Reconcile runs one pass. With fetch it asks the source for its newest
// revision and applies it when new; every pass then repairs drift
// against the state in force. The error is also logged, counted and
// reported in the status.
func (c *Controller) Reconcile(ctx context.Context, trigger string, fetch bool) (Result, error) {
	if err := c.lockPass(ctx); err != nil {
		return Result{}, err
	}
	defer c.unlockPass()
	if c.closed {
		return Result{}, errors.New("controller: shut down")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.cancelPass = cancel
	c.mu.Unlock()
	start := time.Now()
	var res Result
	var err error
	if fetch {
		err = c.fetchAndApply(ctx, &res)
	}
	if c.report.running != nil && !res.Applied && ctx.Err() == nil {
		if rerr := c.repair(&res); rerr != nil && err == nil {
			err = rerr
		}
		if rerr := c.syncRealServer(c.report.running.RealServer, &res, true); rerr != nil && err == nil {
			err = rerr
		}
		if rerr := c.repairMarks(&res); rerr != nil && err == nil {
			err = rerr
		}
		if rerr := c.syncDaemons(c.report.running.ConnectionSync, &res); rerr != nil && err == nil {
			err = rerr
		}
	}
	if rerr := c.rolloutPass(&res); rerr != nil && err == nil {
		err = rerr
	}
	if c.report.running != nil && ctx.Err() == nil {
		// Every pass: health (a pass's usual trigger) decides the announcements.
		if berr := c.syncBGP(c.report.running); berr != nil && err == nil {
			err = fmt.Errorf("BGP: %w", berr)
		}
	}
	d := time.Since(start)
	c.m.reconcileDuration.Observe(d.Seconds())
	c.finishPass(trigger, d, res, err)
	return res, err
}

// fetched is the answer of one Source.Latest.
type fetched struct {
	rev *source.Revision
	err error
}

// latest asks the source for its newest revision, giving up when fctx
// ends even if the source does not (a read hung in the kernel, a remote
// library deaf to cancellation): FetchTimeout and Shutdown hold whatever
// the source does. Only one call runs at a time; one given up on is
// waited for by the next pass, and its answer used if it comes then.
func (c *Controller) latest(fctx context.Context) (*source.Revision, error) {
	if c.fetching != nil {
		select {
		case <-c.fetching:
			c.fetching = nil // it ended between passes: its answer is stale
		default:
		}
	}
	ch := c.fetching
	if ch == nil {
		ch = make(chan fetched, 1)
		go func() {
			rev, err := c.cfg.Source.Latest(fctx)
			ch <- fetched{rev, err}
		}()
	}
	select {
	case r := <-ch:
		c.fetching = nil
		return r.rev, r.err
	case <-fctx.Done():
		c.fetching = ch
		return nil, fctx.Err()
	}
}

// fetchAndApply gets the newest revision and applies it if it is new.
func (c *Controller) fetchAndApply(ctx context.Context, res *Result) error {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	rev, err := c.latest(fctx)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // cancelled by Shutdown: apply nothing more
	}
	cancel()
	if err != nil {
		c.m.fetchErrors.Inc()
		ferr := &stageError{stage: "fetch", revision: revisionInError(err), err: fmt.Errorf("%s: %w", c.cfg.Source, err)}
		var refused *source.RefusedError
		if errors.As(err, &refused) {
			// Fetched but refused: the status shows the commit, not the
			// older one fetched before it.
			ferr.revision, ferr.refused = refused.Commit, true
			c.setFetched(&source.Revision{ID: refused.Commit, Summary: refused.Summary, Time: refused.Time}, true)
		}
		defer c.setPending(ferr)
		if c.report.running != nil || c.cfg.LastGood == nil {
			c.log.Error("fetch failed, keeping the running configuration", "source", c.cfg.Source.String(), "err", oneLine(err.Error()))
			return ferr
		}
		// Start-up without a usable source: fall back to the disk.
		stored, lerr := c.cfg.LastGood.Load()
		if lerr != nil || stored == nil {
			if lerr == nil {
				lerr = errors.New("none recorded")
			}
			c.log.Error("fetch failed and no last good revision to start from", "source", c.cfg.Source.String(), "err", oneLine(err.Error()), "last-good", oneLine(lerr.Error()))
			return ferr
		}
		c.log.Warn("fetch failed, starting with the last good revision from the state directory",
			"source", c.cfg.Source.String(), "err", oneLine(err.Error()), "revision", source.ShortID(stored.ID))
		res.FromLastGood = true
		if aerr := c.applyRevision(stored, res); aerr != nil {
			return aerr
		}
		return ferr
	}
	c.setFetched(rev, false)
	if c.report.applied != nil && rev.ID == c.report.applied.ID {
		c.setPending(nil)
		return nil
	}
	if c.refusal != nil && rev.ID == c.failed {
		return c.refusal
	}
	if err := c.refuseBad(rev, res); err != nil {
		return err
	}
	return c.applyRevision(rev, res)
}

// applyRevision loads, resolves and applies rev; on any failure the state
// in force stays (and is restored where a partial apply touched it).
func (c *Controller) applyRevision(rev *source.Revision, res *Result) error {
	fail := func(stage string, err error) error {
		c.m.reconcileErrors.Inc()
		if rev.ID != c.failed {
			c.log.Error("reload failed, keeping the running configuration",
				"revision", source.ShortID(rev.ID), "stage", stage, "err", oneLine(err.Error()))
		}
		c.failed = rev.ID
		serr := &stageError{stage: stage, revision: rev.ID, err: err}
		c.refusal = nil
		if stage == "load" || stage == "resolve" {
			c.refusal = serr
		}
		c.setPending(serr)
		return serr
	}
	cluster, err := model.Load(rev.Files)
	if err != nil {
		return fail("load", err)
	}
	if rev.ID != c.warned {
		c.warned = rev.ID
		for _, w := range model.Warnings(cluster) {
			c.log.Warn("description warning (valid, but probably not meant)", "revision", source.ShortID(rev.ID), "warning", w.Error())
		}
	}
	desired, err := model.Desired(cluster, c.cfg.Node)
	if err != nil {
		return fail("resolve", err)
	}
	if hold, err := c.gate(rev, cluster, desired); hold {
		return err
	}
	if err := c.applyState(c.report.running, desired, res); err != nil {
		if c.report.running != nil {
			// Undo against what was half applied, so every part that
			// took the new state gets the old one back.
			var undo Result
			if rerr := c.applyState(desired, c.report.running, &undo); rerr != nil {
				c.log.Error("restoring the running configuration after a failed apply", "err", oneLine(rerr.Error()))
			}
		}
		return fail("apply", err)
	}
	c.failed, c.refusal = "", nil
	res.Applied = true
	res.Revision = rev.ID
	c.cfg.Source.Applied(rev.ID)
	c.m.setRevision(rev.ID)
	if c.cfg.LastGood != nil && !res.FromLastGood {
		if err := c.cfg.LastGood.Save(rev); err != nil {
			c.log.Warn("recording the last good revision", "path", c.cfg.LastGood.Path, "err", err)
		}
	}
	c.applied(rev, c.report.running, desired)
	c.mu.Lock()
	if !res.FromLastGood && !c.ro.rollingBack {
		c.report.pending = nil
	}
	c.report.running = desired
	c.report.applied = revisionInfo(rev, c.cfg.Now())
	c.mu.Unlock()
	c.log.Info("applied", "revision", source.ShortID(rev.ID), "summary", rev.Summary,
		"instances", len(desired.Instances), "services", len(desired.Services),
		"vrrp-changed", res.VRRPApplied, "ipvs-operations", res.IPVSOps)
	return nil
}

// applyState makes the engine, the checker and IPVS run desired, touching
// only what differs from prev (the state in force; nil at start-up).
func (c *Controller) applyState(prev, desired *model.NodeState, res *Result) error {
	if prev == nil || !sameVRRP(prev, desired) {
		if err := c.cfg.Engine.Apply(desired); err != nil {
			return fmt.Errorf("VRRP: %w", err)
		}
		res.VRRPApplied = true
	}
	if c.cfg.Checker != nil && (prev == nil || !reflect.DeepEqual(prev.Services, desired.Services)) {
		c.cfg.Checker.Update(desired.Services)
	}
	table, effective := c.effectiveTable(desired.Services)
	ops, err := c.syncIPVS(table, effective, c.fingerprint())
	res.IPVSOps += ops
	if err != nil {
		return err
	}
	if err := c.syncRealServer(desired.RealServer, res, false); err != nil {
		return err
	}
	if _, err = c.syncMarks(desired.Services); err != nil {
		return err
	}
	if desired.BGP != nil && c.cfg.BGP == nil {
		return errors.New("BGP is not available on this node, but it is a member of a bgp group")
	}
	return c.syncDaemons(desired.ConnectionSync, res)
}

// ipvsPrint is one reading of the kernel's IPVS fingerprint; ok is false
// without a fingerprinter or IPVS, or when the reading failed.
type ipvsPrint struct {
	sum uint64
	ok  bool
}

// fingerprint is read before a sync reads the table: a change after it
// makes the next fingerprint differ, whether or not the sync saw it.
func (c *Controller) fingerprint() ipvsPrint {
	if c.cfg.IPVS == nil || c.cfg.Fingerprint == nil {
		return ipvsPrint{}
	}
	sum, err := c.cfg.Fingerprint.Fingerprint()
	return ipvsPrint{sum, err == nil}
}

// syncIPVS programs an effective table (health applied); fp is the
// fingerprint taken before it.
func (c *Controller) syncIPVS(table []lvs.VirtualServer, effective map[string][]model.RealServerSpec, fp ipvsPrint) (int, error) {
	if c.cfg.IPVS == nil {
		if len(table) > 0 {
			return 0, fmt.Errorf("IPVS is not available on this node, but %d virtual services are desired (first: %s)", len(table), table[0].Name)
		}
		return 0, nil
	}
	c.cleanPrint = ipvsPrint{}
	plan, done, err := c.cfg.IPVS.Sync(table)
	c.countOps(plan.Ops[:done])
	if err != nil {
		return done, fmt.Errorf("IPVS: %w", err)
	}
	if done == 0 {
		c.cleanPrint, c.trusted = fp, 0
	}
	conflicts := make([]string, 0, len(plan.Conflicts))
	for _, vs := range plan.Conflicts {
		key := vs.Service.Key().String()
		if !slices.Contains(c.report.conflicts, key) {
			c.log.Warn("IPVS service exists but is not hakeeper's; left alone", "service", vs.Name, "key", key)
		}
		conflicts = append(conflicts, key)
	}
	unmanaged := make([]string, 0, len(plan.Unmanaged))
	for _, svc := range plan.Unmanaged {
		unmanaged = append(unmanaged, svc.Key().String())
	}
	c.synced = table
	c.mu.Lock()
	c.report.effective, c.report.unmanaged, c.report.conflicts = effective, unmanaged, conflicts
	c.mu.Unlock()
	return done, nil
}

// effectiveTable applies health to services: failing servers left out or
// drained, the sorry server when the quorum is lost.
func (c *Controller) effectiveTable(services []model.VirtualService) ([]lvs.VirtualServer, map[string][]model.RealServerSpec) {
	eff := make([]model.VirtualService, len(services))
	byName := make(map[string][]model.RealServerSpec, len(services))
	for i, vs := range services {
		var healthy func(model.RealServerSpec) bool
		if c.cfg.Checker != nil {
			healthy = c.cfg.Checker.HealthFunc(vs)
		}
		vs.RealServers = check.EffectiveRealServers(vs, healthy)
		eff[i] = vs
		byName[vs.Name] = vs.RealServers
	}
	return lvs.TableFromModel(eff), byName
}

func (c *Controller) countOps(ops []lvs.Op) {
	for _, op := range ops {
		c.m.ipvsOps.WithLabelValues(op.Kind.String()).Inc()
	}
}

// repair puts back what changed behind our back: VIPs of master
// instances and IPVS entries. With nothing changed it writes nothing.
func (c *Controller) repair(res *Result) error {
	if vips := c.cfg.Engine.RepairVIPs(); len(vips) > 0 {
		names := make([]string, len(vips))
		for i, v := range vips {
			names[i] = v.Prefix.String() + " on " + v.Device
		}
		c.log.Warn("drift: VIPs missing on a master were re-added", "vips", strings.Join(names, ", "))
		c.m.driftRepairs.WithLabelValues("vip").Add(float64(len(vips)))
		res.Repaired += len(vips)
		c.noteDrift(uint64(len(vips)), 0, "VIP "+names[0])
	}
	if c.cfg.IPVS == nil && len(c.report.running.Services) == 0 {
		return nil
	}
	table, effective := c.effectiveTable(c.report.running.Services)
	healthSame := tablesEqual(c.synced, table)
	fp := c.fingerprint()
	if healthSame && c.unchangedSinceInSync(fp) {
		return nil
	}
	ops, err := c.syncIPVS(table, effective, fp)
	res.IPVSOps += ops
	if ops > 0 && healthSame {
		// The table we want did not change, yet writes were needed:
		// someone edited IPVS by hand.
		c.log.Warn("drift: IPVS table differed from the desired one and was put back", "operations", ops)
		c.m.driftRepairs.WithLabelValues("ipvs").Add(float64(ops))
		res.Repaired += ops
		c.noteDrift(0, uint64(ops), "IPVS")
	}
	return err
}

// unchangedSinceInSync reports whether the kernel's IPVS table is, by its
// fingerprint fp, the one last found in sync, and the pass may trust that
// instead of reading it all (at most FullCheckEvery-1 passes in a row).
func (c *Controller) unchangedSinceInSync(fp ipvsPrint) bool {
	if !fp.ok || fp != c.cleanPrint || c.trusted+1 >= c.cfg.FullCheckEvery {
		return false
	}
	c.trusted++
	return true
}

func tablesEqual(a, b []lvs.VirtualServer) bool {
	return slices.EqualFunc(a, b, func(x, y lvs.VirtualServer) bool {
		return x.Name == y.Name && x.Service.Equal(y.Service) && slices.EqualFunc(x.Destinations, y.Destinations, lvs.Destination.Equal)
	})
}

// sameVRRP reports whether two states ask the same of the VRRP engine
// (everything but the virtual services and the real-server role).
func sameVRRP(a, b *model.NodeState) bool {
	x, y := *a, *b
	x.Services, y.Services = nil, nil
	x.RealServer, y.RealServer = nil, nil
	return reflect.DeepEqual(x, y)
}

// stageError is a failed pass with its stage and revision.
type stageError struct {
	stage    string
	revision string
	// refused is set when the source fetched revision but would not
	// deliver it (force-push, unsigned).
	refused bool
	err     error
}

func (e *stageError) Error() string {
	if e.revision != "" {
		return fmt.Sprintf("%s of revision %s: %v", e.stage, source.ShortID(e.revision), e.err)
	}
	return fmt.Sprintf("%s: %v", e.stage, e.err)
}

func (e *stageError) Unwrap() error { return e.err }

// revisionInError picks the commit a source error that is not a
// source.RefusedError names ("commit abc123…: …").
func revisionInError(err error) string {
	_, after, _ := strings.Cut(err.Error(), "commit ")
	if f := strings.Fields(after); len(f) > 0 {
		return strings.TrimRight(f[0], ":,")
	}
	return ""
}

// oneLine keeps a multi-line error (a list of validation errors) on one
// log or status line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

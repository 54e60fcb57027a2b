package vrrpd

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Tracking rules (keepalived's, so imported clusters behave the same):
//   - the instance's own interface is tracked implicitly: down faults it;
//   - a tracked interface or check with weight 0 faults the instance while
//     down or failing;
//   - a positive weight is added while the link is up / the check passes,
//     a negative one while it is down / failing;
//   - the effective priority is clamped to 1..254, and an address owner
//     (priority 255) is never adjusted, only faulted;
//   - a check counts as passing until Fall consecutive failures (as
//     keepalived's scripts start, without init_fail).

// refreshLinks reads the state of every link the instances depend on.
func (e *Engine) refreshLinks(state *model.NodeState) {
	names := map[string]bool{}
	for _, in := range state.Instances {
		names[in.Interface] = true
		for _, t := range in.TrackInterfaces {
			names[t.Interface] = true
		}
	}
	maps.DeleteFunc(e.links, func(name string, _ linkState) bool { return !names[name] })
	for name := range names {
		e.setLink(name, e.readLink(name))
	}
}

type linkState struct {
	up    bool
	since time.Time // when up last changed (or tracking began)
}

// setLink records a link's state when it is new or changed.
func (e *Engine) setLink(name string, up bool) {
	if l, known := e.links[name]; !known || l.up != up {
		e.links[name] = linkState{up: up, since: e.cfg.Clock.Now()}
	}
}

func (e *Engine) readLink(name string) bool {
	up, err := e.cfg.Links.Up(name)
	if err != nil {
		e.log.Warn("vrrp: reading link state, treating it as down", "link", name, "err", err)
		return false
	}
	return up
}

// onLink is the Links.Watch callback.
func (e *Engine) onLink(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	l, tracked := e.links[name]
	if !tracked {
		return
	}
	up := e.readLink(name)
	if up == l.up {
		return
	}
	e.setLink(name, up)
	e.log.Info("vrrp: tracked link changed", "link", name, "up", up)
	e.retrack()
}

// track computes an instance's effective priority and fault reason
// ("" = none) from its tracks as trackStatus weighs them.
func (e *Engine) track(in *instance) (uint8, string) {
	fault := in.advertErr
	if fault == "" && !e.links[in.cfg.Interface].up {
		fault = "interface " + in.cfg.Interface + " down"
	}
	p := int(in.cfg.Priority)
	for _, ts := range e.trackStatus(in) {
		p += ts.Contribution
		switch {
		case !ts.Fault || fault != "":
		case ts.Kind == TrackInterface:
			fault = "tracked interface " + ts.Name + " down"
		default:
			fault = "tracked check " + ts.Name + " failing"
		}
	}
	if in.cfg.Priority == model.OwnerPriority {
		return model.OwnerPriority, fault
	}
	return uint8(min(max(p, 1), 254)), fault
}

// trackStatus describes an instance's tracks and what each does to it.
func (e *Engine) trackStatus(in *instance) []TrackStatus {
	var out []TrackStatus
	add := func(ts TrackStatus) {
		switch {
		case ts.Weight == 0:
			ts.Fault = !ts.Up
		case in.cfg.Priority == model.OwnerPriority:
			// never adjusted
		case (ts.Weight > 0) == ts.Up:
			// a positive weight while up, a negative one while down
			ts.Contribution = ts.Weight
		}
		out = append(out, ts)
	}
	for _, t := range in.cfg.TrackInterfaces {
		l := e.links[t.Interface]
		add(TrackStatus{Kind: TrackInterface, Name: t.Interface, Up: l.up, Weight: t.Weight, Since: l.since})
	}
	for _, t := range in.cfg.TrackChecks {
		if c := e.checks[t.Check]; c != nil {
			add(TrackStatus{Kind: TrackCheck, Name: t.Check, Up: c.st.Passing, Weight: t.Weight, Since: c.st.Since,
				LastRun: c.st.LastRun, LastExit: c.st.LastExit, LastError: c.st.LastError})
		}
	}
	return out
}

// retrack recomputes priorities and faults (own and sync-group) and
// moves instances into or out of Fault. Instances not started yet only
// get their priority.
func (e *Engine) retrack() {
	insts := e.sortedInstances()
	groupFault := map[string]string{}
	for _, in := range insts {
		prio, fault := e.track(in)
		if prio != in.prio && in.state != "" {
			e.log.Info("vrrp: effective priority changed", "group", in.cfg.Name, "from", in.prio, "to", prio)
		}
		in.prio = prio
		in.ownFault = fault != ""
		in.faultReason = fault
		if g := in.cfg.SyncGroup; fault != "" && g != "" && groupFault[g] == "" {
			groupFault[g] = fmt.Sprintf("sync group %s: %s faulted (%s)", g, in.cfg.Name, fault)
		}
	}
	for _, in := range insts {
		in.syncFault = !in.ownFault && in.cfg.SyncGroup != "" && groupFault[in.cfg.SyncGroup] != ""
		if in.syncFault {
			in.faultReason = groupFault[in.cfg.SyncGroup]
		}
	}
	for _, in := range insts {
		switch {
		case in.state == "" || in.state == model.StateInit:
		case in.faulted() && in.state != model.StateFault:
			in.becomeFault(in.faultReason)
		case !in.faulted() && in.state == model.StateFault && in.cfg.Priority == model.OwnerPriority:
			// RFC 5798 6.4.1: the owner goes to master at once, as at start-up.
			in.becomeMaster("fault cleared, address owner (priority 255)", false)
		case !in.faulted() && in.state == model.StateFault:
			in.becomeBackup("fault cleared", false)
		}
	}
}

// checkRunner runs one tracked check periodically.
type checkRunner struct {
	e       *Engine
	spec    model.TrackCheckSpec
	timer   Timer
	stopped bool
	// st.Passing is the check's verdict; st also keeps the results behind
	// it (Engine.CheckStatus adds what comes from the spec).
	st CheckStatus
}

// applyChecks starts the checks instances and bgp groups refer to and
// stops the others. A bgp group reads its checks' verdicts from
// CheckStatus.
func (e *Engine) applyChecks(state *model.NodeState) {
	used := map[string]bool{}
	for _, in := range state.Instances {
		for _, t := range in.TrackChecks {
			used[t.Check] = true
		}
	}
	if state.BGP != nil {
		for _, g := range state.BGP.Groups {
			for _, c := range g.TrackChecks {
				used[c] = true
			}
		}
	}
	specs := map[string]model.TrackCheckSpec{}
	for _, c := range state.Checks {
		if used[c.Name] {
			specs[c.Name] = c
		}
	}
	for name, c := range e.checks {
		if _, ok := specs[name]; !ok {
			c.cancel()
			delete(e.checks, name)
		}
	}
	for name, spec := range specs {
		if c := e.checks[name]; c != nil {
			c.spec = spec // takes effect at the next run
			continue
		}
		c := &checkRunner{e: e, spec: spec, st: CheckStatus{Passing: true, Since: e.cfg.Clock.Now()}}
		e.checks[name] = c
		c.schedule(0)
	}
}

func (c *checkRunner) cancel() {
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *checkRunner) schedule(d time.Duration) {
	c.timer = c.e.cfg.Clock.AfterFunc(d, func() {
		c.e.fire(func() {
			if !c.stopped {
				c.launch()
			}
		})
	})
}

// launch runs the check outside the engine lock and feeds the result back.
func (c *checkRunner) launch() {
	e, spec := c.e, c.spec
	interval := spec.Interval
	if interval <= 0 {
		interval = model.DefaultTrackInterval
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	e.work.add()
	go func() {
		defer e.work.done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		code, err := e.cfg.Runner.Run(ctx, spec.Command, spec.User)
		cancel()
		e.mu.Lock()
		defer e.mu.Unlock()
		if c.stopped || e.stopped {
			return
		}
		c.result(err == nil && code == 0, code, err)
		c.schedule(interval)
	}()
}

func (c *checkRunner) result(pass bool, code int, err error) {
	c.note(pass, code, err)
	// The verdict turns after enough results in a row disagreeing with it.
	st := &c.st
	against, need := st.ConsecutiveFail, c.spec.Fall
	if !st.Passing {
		against, need = st.ConsecutiveOK, c.spec.Rise
	}
	if pass == st.Passing || against < max(need, 1) {
		return
	}
	st.Passing, st.Since = pass, c.e.cfg.Clock.Now()
	c.e.log.Info("vrrp: tracked check changed", "check", c.spec.Name, "passing", pass, "exit", code, "err", err)
	c.e.retrack()
}

// note records one result for the status.
func (c *checkRunner) note(pass bool, code int, err error) {
	st := &c.st
	st.LastRun, st.LastExit, st.LastError = c.e.cfg.Clock.Now(), code, ""
	switch {
	case err != nil:
		st.Runs.Errors++
		st.LastError = err.Error()
	case code != 0:
		st.Runs.Failed++
	default:
		st.Runs.Passed++
	}
	if pass {
		st.ConsecutiveOK, st.ConsecutiveFail = st.ConsecutiveOK+1, 0
	} else {
		st.ConsecutiveOK, st.ConsecutiveFail = 0, st.ConsecutiveFail+1
	}
}

// pending counts background work (hook queues, check runs) in flight.
type pending struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (p *pending) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *pending) done() {
	p.mu.Lock()
	p.n--
	if p.n == 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

func (p *pending) wait() {
	p.mu.Lock()
	for p.n > 0 {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// serialQueue runs jobs one at a time in order: each on a goroutine of
// its own that waits until the job queued before it has finished.
type serialQueue struct {
	work *pending
	mu   sync.Mutex
	last chan struct{} // closed when the job queued last has finished
}

func (q *serialQueue) push(f func()) {
	done := make(chan struct{})
	q.mu.Lock()
	prev := q.last
	q.last = done
	q.mu.Unlock()
	q.work.add()
	go func() {
		defer q.work.done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		f()
	}()
}

// runHook queues n's hook for state, if it has one, with name, the state
// and prio as arguments.
func (e *Engine) runHook(q *serialQueue, n model.NotifySpec, name string, state model.VRRPState, prio uint8) {
	var cmd model.Command
	switch state {
	case model.StateMaster:
		cmd = n.Master
	case model.StateBackup:
		cmd = n.Backup
	case model.StateFault:
		cmd = n.Fault
	case stateStop:
		cmd = n.Stop
	}
	if cmd.IsZero() {
		return
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = model.DefaultNotifyTimeout
	}
	args := []string{name, string(state), strconv.Itoa(int(prio))}
	q.push(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		code, err := e.cfg.Runner.Run(ctx, cmd, n.User, args...)
		if err != nil || code != 0 {
			e.log.Warn("vrrp: notify hook failed", "group", name, "state", string(state), "exit", code, "err", err)
		}
	})
}

package check

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// DefaultWorkers bounds how many checks run at once when Options.Workers
// is unset: enough for thousands of servers at second intervals, few
// enough that a wave of timeouts cannot exhaust file descriptors.
const DefaultWorkers = 64

// ServiceKey identifies a virtual service as IPVS does: by what it
// matches on the wire, not by its name, so a rename keeps health.
type ServiceKey struct {
	Family   model.Family
	Protocol model.Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("fwmark:%d/%s", k.FWMark, k.Family)
	}
	return fmt.Sprintf("%s/%s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

// Key identifies one checked real server: a service and a server address
// and port. The same backend in two services is checked twice, because
// each service may check it differently.
type Key struct {
	Service ServiceKey
	Address netip.Addr
	Port    uint16
}

// KeyOf returns the key of real server rs of service svc.
func KeyOf(svc *model.VirtualService, rs *model.RealServerSpec) Key {
	return Key{
		Service: ServiceKey{Family: svc.Family, Protocol: svc.Protocol, Address: svc.Address, Port: svc.Port, FWMark: svc.FWMark},
		Address: rs.Address,
		Port:    rs.Port,
	}
}

func (k Key) String() string {
	return k.Service.String() + " → " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Compare orders keys by service, then server address and port.
func (k Key) Compare(o Key) int {
	a, b := k.Service, o.Service
	return cmp.Or(
		cmp.Compare(a.Family, b.Family),
		cmp.Compare(a.Protocol, b.Protocol),
		a.Address.Compare(b.Address),
		cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.FWMark, b.FWMark),
		k.Address.Compare(o.Address),
		cmp.Compare(k.Port, o.Port),
	)
}

// Options configure a Checker. The zero value is usable.
type Options struct {
	// Workers is the most checks that run at once (DefaultWorkers when 0).
	Workers int
	// Clock schedules checks (the real clock of clock.go when nil).
	Clock Clock
	// NewProbe builds a check's probe (NewProbe when nil); tests script
	// outcomes through it.
	NewProbe func(*model.CheckSpec) (Probe, error)
	// Logger receives health flips and broken checks (slog.Default when nil).
	Logger *slog.Logger
	// ObserveTry, when set, is called with the result of every try of
	// every check (retries included), for metrics. Unlike wrapping
	// NewProbe, it keeps tcp checks on the batched path. It must not block.
	ObserveTry func(Result)
	// StartCommand starts an exec check's command (cmd.Start when nil).
	// A daemon running real-time passes a starter that forks at normal
	// priority, so a check script never competes with VRRP timers.
	StartCommand func(*exec.Cmd) error
}

// Checker runs the health checks of every real server of a node's virtual
// services. Each server's first check runs at a random offset within its
// interval, then every interval, so thousands of servers do not fire
// together; at most Options.Workers checks run at once. Update reconciles
// the set without disturbing servers whose check did not change.
type Checker struct {
	clock    Clock
	newProbe func(*model.CheckSpec) (Probe, error)
	log      *slog.Logger
	workers  chan struct{}
	changes  chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	running  sync.WaitGroup
	// fastTCP: tcp checks use the built-in probe, so they run in batches
	// (batch.go) rather than through the Probe function.
	fastTCP    bool
	observeTry func(Result)
	batches    sync.Pool // *tcpBatch
	sockets    socketPool
	// inlineBatches: the clock runs a batch itself right after the
	// timers it fired (the default slot clock), so no goroutine is
	// started for it.
	inlineBatches bool

	mu      sync.Mutex
	closed  bool
	servers map[Key]*server
	ready   *tcpBatch // tcp checks due, waiting for their batch to start
}

// server is one checked (or unchecked) real server.
type server struct {
	key     Key
	spec    *model.CheckSpec // nil: not checked, always up
	target  Target
	probe   Probe
	badSpec error           // why the probe could not be built; every run fails with it
	batched bool            // a tcp check run in batches, not through probe
	fire    func()          // the timer callback, made once
	ctx     context.Context // nil for batched checks
	cancel  context.CancelFunc
	// stopped is set (under Checker.mu) when the server is removed,
	// replaced or the Checker closed; a run in flight drops its result.
	stopped atomic.Bool

	// Guarded by Checker.mu.
	service    string
	health     health
	timer      Timer
	due        time.Time // when the pending run was scheduled for
	last       Result
	lastTries  int
	checks     uint64
	lastCheck  time.Time
	lastChange time.Time
}

// New returns a Checker with no servers; call Update to give it some.
func New(opts Options) *Checker {
	c := &Checker{
		clock:      opts.Clock,
		newProbe:   opts.NewProbe,
		log:        cmp.Or(opts.Logger, slog.Default()),
		workers:    make(chan struct{}, cmp.Or(max(opts.Workers, 0), DefaultWorkers)),
		changes:    make(chan struct{}, 1),
		servers:    map[Key]*server{},
		fastTCP:    opts.NewProbe == nil,
		observeTry: opts.ObserveTry,
	}
	c.batches.New = func() any { return new(tcpBatch) }
	c.sockets.max, c.sockets.idle = cap(c.workers), map[int][]int{}
	if c.clock == nil {
		k := newSlotClock()
		k.after = c.runBatch
		c.clock, c.inlineBatches = k, true
	}
	if c.newProbe == nil {
		start := opts.StartCommand
		c.newProbe = func(spec *model.CheckSpec) (Probe, error) { return newProbe(spec, start) }
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Changes receives a signal after any server's health flips. Signals
// coalesce: after one, read every server's health again (Healthy,
// HealthFunc or Status), not just one.
func (c *Checker) Changes() <-chan struct{} { return c.changes }

// Update makes the checked set exactly the real servers of services. A
// server whose key and check are unchanged keeps its health, counters and
// schedule. A server whose check changed keeps its current up/down state
// (so editing a timeout does not flap it) but restarts with fresh
// counters and a new schedule. A new server starts down when its service
// has StartDown, up otherwise. Servers no longer present stop; a check of
// theirs still running is abandoned and its result discarded.
func (c *Checker) Update(services []model.VirtualService) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	now := c.clock.Now()
	seen := make(map[Key]bool, len(c.servers))
	for i := range services {
		svc := &services[i]
		for j := range svc.RealServers {
			rs := &svc.RealServers[j]
			key := KeyOf(svc, rs)
			seen[key] = true
			old := c.servers[key]
			if old != nil && reflect.DeepEqual(old.spec, rs.Check) {
				old.service = svc.Name
				continue
			}
			s := c.newServer(key, svc.Name, rs)
			s.lastChange = now
			s.health.up = !svc.StartDown || s.spec == nil
			if old != nil {
				c.stop(old)
				s.health.up = old.health.up || s.spec == nil
				s.lastChange = old.lastChange
			}
			c.servers[key] = s
			if s.spec != nil {
				c.schedule(s, firstDue(now, interval(s.spec)))
			}
		}
	}
	for key, s := range c.servers {
		if !seen[key] {
			c.stop(s)
			delete(c.servers, key)
		}
	}
}

func (c *Checker) newServer(key Key, service string, rs *model.RealServerSpec) *server {
	s := &server{key: key, service: service}
	if rs.Check == nil {
		return s
	}
	// A copy as given (defaults are applied where used), so the next
	// Update compares like with like.
	spec := *rs.Check
	s.spec = &spec
	s.target = Target{Address: rs.Address, Port: cmp.Or(spec.Port, rs.Port)}
	s.probe, s.badSpec = c.newProbe(&spec)
	if s.badSpec != nil {
		c.log.Error("health check cannot run", "server", key.String(), "err", s.badSpec)
	}
	if probe, observe := s.probe, c.observeTry; probe != nil && observe != nil {
		s.probe = func(ctx context.Context, t Target) Result {
			r := probe(ctx, t)
			observe(r)
			return r
		}
	}
	s.fire = func() { c.fired(s) }
	s.batched = c.fastTCP && spec.Type == "tcp" && s.badSpec == nil
	if !s.batched {
		s.ctx, s.cancel = context.WithCancel(c.ctx)
	}
	return s
}

func interval(spec *model.CheckSpec) time.Duration {
	if spec.Interval <= 0 {
		return model.DefaultCheckInterval
	}
	return spec.Interval
}

// firstDue picks a server's first check time: a random slot within one
// interval from now, so servers added together spread over the interval.
func firstDue(now time.Time, every time.Duration) time.Time {
	start := now.Truncate(slot)
	if start.Before(now) {
		start = start.Add(slot)
	}
	// start is less than a slot after now, so the last slot,
	// start+(slots-1)·slot, is still within the interval.
	slots := int64(every / slot)
	if slots <= 0 {
		return start
	}
	return start.Add(time.Duration(rand.N(slots)) * slot)
}

// slot is the granularity of check times. Checks due in the same slot
// start from one timer wake-up of the runtime instead of one each, which
// at thousands of checks a second is much of the scheduling cost; 10ms
// still spreads a thousand servers over a hundred slots a second.
const slot = 10 * time.Millisecond

// schedule arms s's timer for due, rounded up to a slot. Called with c.mu held.
func (c *Checker) schedule(s *server, due time.Time) {
	if r := due.Truncate(slot); r.Before(due) {
		due = r.Add(slot)
	}
	s.due = due
	s.timer = c.clock.AfterFunc(due.Sub(c.clock.Now()), s.fire)
}

// stop cancels s's timer and any check of it in flight. Called with c.mu held.
func (c *Checker) stop(s *server) {
	s.stopped.Store(true)
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
}

// fired starts the check of s that is due: a tcp check joins the batch
// about to start, any other runs in a goroutine of its own. It does not
// block (see Clock).
func (c *Checker) fired(s *server) {
	c.mu.Lock()
	if s.stopped.Load() {
		c.mu.Unlock()
		return
	}
	c.running.Add(1)
	if !s.batched {
		c.mu.Unlock()
		go c.run(s)
		return
	}
	start := c.ready == nil
	if start {
		c.ready = c.batches.Get().(*tcpBatch)
	}
	c.ready.servers = append(c.ready.servers, s)
	c.mu.Unlock()
	if start && !c.inlineBatches {
		go c.runBatch()
	}
}

// run performs one scheduled check of s through its probe and schedules
// the next.
func (c *Checker) run(s *server) {
	defer c.running.Done()
	due := s.due

	select {
	case c.workers <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	every := interval(s.spec)
	var r Result
	tries := 1
	if s.badSpec != nil {
		r = Result{Err: s.badSpec}
	} else {
		r, tries = Attempt(s.ctx, s.probe, s.spec, s.target, c.clock.Now, due.Add(every))
	}
	<-c.workers

	c.mu.Lock()
	c.finish(s, r, tries)
	c.mu.Unlock()
}

// finish records the outcome of a check of s and schedules the next.
// Called with c.mu held.
func (c *Checker) finish(s *server, r Result, tries int) {
	if s.stopped.Load() {
		return // removed or replaced while running
	}
	due, every := s.due, interval(s.spec)
	now := c.clock.Now()
	s.last, s.lastTries, s.lastCheck = r, tries, now
	s.checks++
	if s.health.record(r.OK(), s.spec.Rise, s.spec.Fall) {
		s.lastChange = now
		state := "down"
		if s.health.up {
			state = "up"
		}
		c.log.Info("real server health changed", "server", s.key.String(), "service", s.service, "state", state, "result", errText(r.Err))
		select {
		case c.changes <- struct{}{}:
		default:
		}
	}
	// Keep the server's phase; skip slots missed while waiting for a
	// worker instead of running them back to back.
	next := due.Add(every)
	if !next.After(now) {
		next = next.Add((now.Sub(next)/every + 1) * every)
	}
	c.schedule(s, next)
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// Healthy reports whether the server with key is up. An unchecked server
// is always up; an unknown one is down.
func (c *Checker) Healthy(key Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.servers[key]
	return s != nil && s.health.up
}

// HealthFunc returns the health of svc's real servers in the form
// EffectiveRealServers takes.
func (c *Checker) HealthFunc(svc model.VirtualService) func(model.RealServerSpec) bool {
	return func(rs model.RealServerSpec) bool { return c.Healthy(KeyOf(&svc, &rs)) }
}

// ServerStatus is a snapshot of one real server's health for the status
// report.
type ServerStatus struct {
	Key Key
	// Service is the virtual service's name.
	Service string
	Server  string
	// Check is the check type; empty when the server is not checked.
	Check   string
	Healthy bool
	// LastError is empty when the last check passed (or none ran yet).
	LastError   string
	LastCheck   time.Time
	LastLatency time.Duration
	// LastTries is how many tries the last check took (1 + retries used).
	LastTries int
	// LastChange is when health last flipped, or when checking began.
	LastChange time.Time
	// Consecutive passes and failures of the current run.
	Passes   int
	Failures int
	// Checks counts the checks run since the server's check (re)started.
	Checks uint64
}

// Status returns every server's state, sorted by key.
func (c *Checker) Status() []ServerStatus {
	c.mu.Lock()
	out := make([]ServerStatus, 0, len(c.servers))
	for _, s := range c.servers {
		st := ServerStatus{
			Key:         s.key,
			Service:     s.service,
			Server:      netip.AddrPortFrom(s.key.Address, s.key.Port).String(),
			Healthy:     s.health.up,
			LastCheck:   s.lastCheck,
			LastLatency: s.last.Latency,
			LastTries:   s.lastTries,
			LastChange:  s.lastChange,
			Passes:      s.health.passes,
			Failures:    s.health.fails,
			Checks:      s.checks,
		}
		if s.spec != nil {
			st.Check = s.spec.Type
		}
		if s.last.Err != nil {
			st.LastError = s.last.Err.Error()
		}
		out = append(out, st)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b ServerStatus) int { return a.Key.Compare(b.Key) })
	return out
}

// Close stops every check and waits for those in flight to give up.
func (c *Checker) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, s := range c.servers {
		c.stop(s)
	}
	c.mu.Unlock()
	c.cancel()
	c.running.Wait()
	c.sockets.close()
}

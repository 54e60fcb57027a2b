package vrrpd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// shutdownOnCancel bounds the graceful shutdown Run performs when its
// context ends.
const shutdownOnCancel = 10 * time.Second

// Engine runs the VRRP instances of one node.
//
// Lifecycle: New checks the Config and starts nothing. The first Apply
// starts the instances (opens Conns, starts receiving, arms timers);
// later Applys reconfigure them live. Run watches tracked interfaces and
// blocks until its context ends (then it shuts down gracefully) or until
// Shutdown is called. Instances run whether or not Run is running; only
// link changes go unnoticed without it. All methods are safe to call
// from any goroutine.
//
// Concurrency: one mutex serialises everything that touches protocol
// state — timer callbacks, received packets (each Conn has one reader
// goroutine that handles a packet completely before reading the next),
// link events, check results and API calls. Notify hooks and tracked
// checks run outside it, so a slow script never delays an advert.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	stopped    bool
	instances  map[model.InstanceKey]*instance
	conns      map[connKey]*connEntry
	checks     map[string]*checkRunner
	links      map[string]linkState // every link an instance depends on
	syncGroups map[string]*syncGroup
	drops      UnattributedDrops
	sendBuf    []byte
	done       chan struct{}

	// ownAddr4 and ownAddr6 are the node's own addresses, never deleted.
	ownAddr4, ownAddr6 netip.Addr
	// leftover holds recorded VIPs (Config.VIPs) no instance holds as its
	// own that are still to be deleted; saved is the record last written
	// (nil before the first write).
	leftover     map[model.VIPSpec]bool
	saved        []model.VIPSpec
	recordLoaded bool

	// work counts check runs and hook queues in flight (for Shutdown and tests).
	work pending
}

type connKey struct {
	ifname string
	family model.Family
	src    netip.Addr // unicast source; zero for multicast
}

func (k connKey) String() string { return k.ifname + "/" + string(k.family) }

// connEntry is one Conn shared by every instance on its key.
type connEntry struct {
	key    connKey
	conn   Conn
	byVRID map[uint8]*instance
	closed bool
	// inHand is set while readLoop holds a packet it has read but not
	// yet handled (it waits for Engine.mu).
	inHand atomic.Bool
}

// advertWaiting reports whether a packet for ce has arrived but is not
// handled yet: in the kernel's queue or in readLoop's hands. Only Conns
// that can tell (PendingConn) are asked.
func (ce *connEntry) advertWaiting() bool {
	pc, ok := ce.conn.(PendingConn)
	return ok && (ce.inHand.Load() || pc.Pending())
}

// New returns an engine that runs nothing until Apply.
func New(cfg Config) (*Engine, error) {
	var missing []string
	for name, v := range map[string]any{"Clock": cfg.Clock, "Conns": cfg.Conns, "Addrs": cfg.Addrs,
		"Announcer": cfg.Announcer, "Links": cfg.Links, "Runner": cfg.Runner} {
		if v == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("vrrpd: Config lacks %s", strings.Join(missing, ", "))
	}
	if cfg.Secret == nil {
		cfg.Secret = (*model.Auth).ReadSecret
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg: cfg, log: log,
		instances: map[model.InstanceKey]*instance{},
		conns:     map[connKey]*connEntry{},
		checks:    map[string]*checkRunner{},
		links:     map[string]linkState{},
		drops:     UnattributedDrops{},
		done:      make(chan struct{}),
		leftover:  map[model.VIPSpec]bool{},
	}
	e.work.cond = sync.NewCond(&e.work.mu)
	return e, nil
}

// fire runs f under the engine lock unless the engine has stopped; every
// timer callback goes through it.
func (e *Engine) fire(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.stopped {
		f()
	}
}

// validate rejects instances the engine cannot run, naming the group.
func validate(state *model.NodeState) error {
	var errs []error
	seen := map[model.InstanceKey]string{}
	for _, in := range state.Instances {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("vrrpd: group %q (vrid %d on %s): %s", in.Name, in.VRID, in.Interface, fmt.Sprintf(format, args...)))
		}
		if prev, ok := seen[in.Key()]; ok {
			bad("same interface, family and VRID as group %q", prev)
		}
		seen[in.Key()] = in.Name
		switch {
		case in.VRID == 0:
			bad("vrid 0 is not allowed")
		case in.Priority == 0:
			bad("priority 0 is reserved for resigning")
		case in.Family != model.IPv4 && in.Family != model.IPv6:
			bad("family %q", in.Family)
		case in.Version != 2 && in.Version != 3:
			bad("version %d (want 2 or 3)", in.Version)
		case in.Version == 2 && in.Family != model.IPv4:
			bad("VRRPv2 is IPv4 only")
		case in.Version == 2 && (in.AdvertInterval%time.Second != 0 || in.AdvertInterval < model.MinAdvertIntervalV2 || in.AdvertInterval > model.MaxAdvertIntervalV2):
			bad("advertInterval %v: v2 needs 1s-255s in whole seconds", in.AdvertInterval)
		case in.Version == 3 && (in.AdvertInterval%(10*time.Millisecond) != 0 || in.AdvertInterval < model.MinAdvertIntervalV3 || in.AdvertInterval > model.MaxAdvertIntervalV3):
			bad("advertInterval %v: v3 needs 10ms-40.95s in 10ms steps", in.AdvertInterval)
		case in.Auth != nil && in.Version != 2:
			bad("auth needs VRRPv2")
		case in.Unicast && len(in.Peers) == 0:
			bad("unicast without peers")
		}
	}
	return errors.Join(errs...)
}

// Apply makes the engine run state.Instances. Instances are matched to
// the running ones by Instance.Key (interface, family, VRID), never by
// name, so a renamed group changes nothing on the wire. Reconfiguration
// never moves a master to backup by itself; a lowered priority takes
// effect through the next adverts. An instance whose Conn cannot be
// opened is reported in the error and left out; the others still run.
func (e *Engine) Apply(state *model.NodeState) error {
	if err := validate(state); err != nil {
		return err
	}
	auths := make([][8]byte, len(state.Instances))
	for i, in := range state.Instances {
		if in.Auth == nil {
			continue
		}
		secret, err := e.cfg.Secret(in.Auth)
		if err != nil {
			return fmt.Errorf("vrrpd: group %q: %w", in.Name, err)
		}
		if len(secret) > 8 {
			e.log.Warn("vrrp: PASS password longer than 8 bytes, only the first 8 are used (as keepalived does)", "group", in.Name)
		}
		auths[i] = packet.PassAuth(secret)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errors.New("vrrpd: engine is shut down")
	}
	e.ownAddr4, e.ownAddr6 = state.Address, state.Address6
	e.refreshLinks(state)
	e.applyChecks(state)
	e.applySyncGroups(state)

	want := map[model.InstanceKey]bool{}
	for _, in := range state.Instances {
		want[in.Key()] = true
	}
	for key, in := range e.instances {
		if !want[key] {
			e.remove(in, "removed from the desired state")
			delete(e.instances, key)
		}
	}
	var errs []error
	var started []*instance
	for i, next := range state.Instances {
		key := next.Key()
		if in, ok := e.instances[key]; ok {
			if ck := connKeyOf(&next); ck != in.conn.key {
				if err := e.moveConn(in, ck); err != nil {
					errs = append(errs, fmt.Errorf("vrrpd: group %q: %w", next.Name, err))
				}
			}
			in.reconfigure(next, auths[i])
			continue
		}
		in := &instance{e: e, cfg: next, auth: auths[i], added: map[model.VIPSpec]bool{},
			counters: Counters{Drops: map[DropReason]uint64{}}}
		in.hooks = &serialQueue{work: &e.work}
		if err := e.attach(in, connKeyOf(&next)); err != nil {
			errs = append(errs, fmt.Errorf("vrrpd: group %q: %w", next.Name, err))
			continue
		}
		in.checkAdvert()
		e.instances[key] = in
		started = append(started, in)
	}
	// Priorities and faults first, so new instances start in the right state.
	e.retrack()
	// Before they start, so one starting as backup removes the VIPs an
	// earlier run of ours left behind.
	e.claimRecorded(started)
	for _, in := range started {
		in.start()
	}
	return errors.Join(errs...)
}

func connKeyOf(in *model.Instance) connKey {
	k := connKey{ifname: in.Interface, family: in.Family}
	if in.Unicast {
		k.src = in.SourceAddress
	}
	return k
}

// attach puts in on the Conn for key, opening it on first use.
func (e *Engine) attach(in *instance, key connKey) error {
	ce := e.conns[key]
	if ce == nil {
		c, err := e.cfg.Conns.Open(key.ifname, key.family, key.src)
		if err != nil {
			return fmt.Errorf("opening VRRP socket on %s: %w", key, err)
		}
		ce = &connEntry{key: key, conn: c, byVRID: map[uint8]*instance{}}
		e.conns[key] = ce
		go e.readLoop(ce)
	}
	ce.byVRID[in.cfg.VRID] = in
	in.conn = ce
	return nil
}

// detach takes in off its Conn, closing the Conn when it was the last.
func (e *Engine) detach(in *instance) {
	ce := in.conn
	delete(ce.byVRID, in.cfg.VRID)
	if len(ce.byVRID) == 0 {
		ce.closed = true
		ce.conn.Close()
		delete(e.conns, ce.key)
	}
}

// remove stops in for good and takes it off its Conn; VIPs it could not
// delete stay recorded as leftovers.
func (e *Engine) remove(in *instance, reason string) {
	in.stop(reason)
	e.detach(in)
	e.keepLeftovers(in)
}

// moveConn switches a running instance to another Conn (unicast source
// or mode changed), keeping its state.
func (e *Engine) moveConn(in *instance, key connKey) error {
	old := in.conn
	if err := e.attach(in, key); err != nil {
		return err // attach left in on old
	}
	next := in.conn
	in.conn = old
	e.detach(in)
	in.conn = next
	return nil
}

func (e *Engine) readLoop(ce *connEntry) {
	buf := make([]byte, 9000)
	for {
		n, meta, err := ce.conn.ReadFrom(buf)
		ce.inHand.Store(err == nil)
		e.mu.Lock()
		ce.inHand.Store(false)
		if ce.closed {
			e.mu.Unlock()
			return
		}
		if err != nil {
			e.log.Error("vrrp: reading", "conn", ce.key.String(), "err", err)
			e.mu.Unlock()
			return
		}
		if !e.stopped {
			e.handlePacket(ce, buf[:n], meta)
		}
		e.mu.Unlock()
	}
}

// handlePacket applies RFC 5798 7.1 receive checks and dispatches by VRID.
func (e *Engine) handlePacket(ce *connEntry, b []byte, meta RecvMeta) {
	var in *instance
	if len(b) >= 2 {
		in = ce.byVRID[b[1]]
	}
	if in == nil && e.siblingHandles(ce, b) {
		return
	}
	drop := func(r DropReason, detail any) {
		if in != nil {
			in.counters.Drops[r]++
		} else {
			m := e.drops[ce.key.String()]
			if m == nil {
				m = map[DropReason]uint64{}
				e.drops[ce.key.String()] = m
			}
			m[r]++
		}
		// Checked first: the arguments (a string concatenation, boxed
		// values) would be built for nothing when debug is off.
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			e.log.Debug("vrrp: dropped packet", "conn", ce.key.String(), "src", meta.Src, "reason", string(r), "detail", detail)
		}
	}
	if meta.Src.Unmap() == ce.conn.LocalAddr().Unmap() {
		drop(DropOwnPacket, nil)
		return
	}
	var a packet.Advert
	if err := packet.DecodeInto(&a, b, meta.Src, meta.Dst); err != nil {
		drop(DropReason(packet.ReasonOf(err)), err)
		return
	}
	if in == nil {
		drop(DropUnknownVRID, a.VRID)
		return
	}
	// reject drops a well-formed advert from a router configured
	// otherwise on our VRID: evidence of split brain.
	reject := func(r DropReason, detail any) {
		drop(r, detail)
		in.noteRejected(r, meta.Src, &a)
	}
	switch {
	// Unicast adverts may be routed, and keepalived sends IPv6 unicast
	// ones with the default hop limit (64): like keepalived, check the
	// TTL only for multicast; unicast peers are checked by address below.
	case meta.TTL != 255 && !in.cfg.Unicast:
		drop(DropBadTTL, meta.TTL)
		return
	case a.Interval == 0:
		// RFC 5798 5.2.7 and RFC 3768 5.3.7 give no meaning to 0; learned,
		// it would make Master_Down_Interval 0 and let any host on the
		// segment flip every node at its packet rate.
		drop(DropBadInterval, a.Interval)
		return
	case a.Version != in.cfg.Version:
		reject(DropWrongVersion, a.Version)
		return
	case in.cfg.Unicast && !slices.Contains(in.cfg.Peers, meta.Src):
		reject(DropNotPeer, meta.Src)
		return
	}
	if a.Version == 2 {
		wantType := uint8(packet.AuthNone)
		if in.cfg.Auth != nil {
			wantType = packet.AuthPass
		}
		if a.AuthType != wantType || wantType == packet.AuthPass && a.AuthData != in.auth {
			reject(DropBadAuth, a.AuthType)
			return
		}
		if a.Interval != in.cfg.AdvertInterval {
			reject(DropIntervalMismatch, a.Interval)
			return
		}
	}
	in.counters.AdvertsReceived++
	if !sameAddrs(a.Addrs, in.vipAddrs()) {
		in.counters.VIPMismatches++
		if now := e.cfg.Clock.Now(); in.lastMismatchLog.IsZero() || now.Sub(in.lastMismatchLog) >= vipMismatchLogEvery {
			in.lastMismatchLog = now
			e.log.Warn("vrrp: advert lists other VIPs than ours (accepted: peers may run another revision)",
				"group", in.cfg.Name, "src", meta.Src, "theirs", a.Addrs, "ours", in.vipAddrs())
		}
	}
	in.onAdvert(&a, meta.Src, e.packetAge(meta.Received, in.masterAdverInt))
}

// packetAge is how long ago the kernel received a packet: the engine's
// own wake-up and wait for the lock, which the timers the packet resets
// must not add to the RFC's intervals. Clamped to [0, limit], so a clock
// step cannot stretch or collapse a timer.
func (e *Engine) packetAge(received time.Time, limit time.Duration) time.Duration {
	if received.IsZero() {
		return 0
	}
	return min(max(e.cfg.Clock.Now().Sub(received), 0), limit)
}

// siblingHandles reports whether another Conn on ce's interface and
// family accounts for packet b. Every raw VRRP socket there sees every
// VRRP packet, so with multicast and unicast groups on one interface each
// socket also reads the other's adverts: those belong to the Conn whose
// instance has the VRID, and a packet no instance claims is counted once,
// by the first Conn (multicast before unicast, then by source).
func (e *Engine) siblingHandles(ce *connEntry, b []byte) bool {
	first := true
	for k, o := range e.conns {
		if o == ce || k.ifname != ce.key.ifname || k.family != ce.key.family {
			continue
		}
		if len(b) >= 2 && o.byVRID[b[1]] != nil {
			return true
		}
		if k.src.Compare(ce.key.src) < 0 {
			first = false
		}
	}
	return !first
}

// sameAddrs compares address lists as sets.
func sameAddrs(a, b []netip.Addr) bool {
	return len(a) == len(b) && subset(a, b) && subset(b, a)
}

func subset(a, b []netip.Addr) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Run watches tracked links until ctx ends, then shuts down gracefully
// (bounded by 10 s); it returns nil after a Shutdown, or the link
// watcher's error.
func (e *Engine) Run(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- e.cfg.Links.Watch(wctx, e.onLink) }()
	select {
	case err := <-errc:
		if err != nil {
			cancel()
			return fmt.Errorf("vrrpd: watching links: %w", err)
		}
		errc <- nil // put back for the wait below; the engine runs on
		select {
		case <-ctx.Done():
		case <-e.done:
		}
	case <-ctx.Done():
	case <-e.done:
	}
	cancel()
	<-errc // the watcher has ended when Run returns
	select {
	case <-e.done:
		return nil
	default:
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownOnCancel)
	defer scancel()
	return e.Shutdown(sctx)
}

// Shutdown stops every instance gracefully: masters send a priority-0
// advert and release the VIPs the engine added; stop hooks run. It
// returns when hooks and checks have finished or ctx ends. Later calls
// return at once.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if !e.stopped {
		for _, in := range e.sortedInstances() {
			e.remove(in, "shutdown")
		}
		e.saveRecord()
		for _, c := range e.checks {
			c.cancel()
		}
		e.stopped = true
		close(e.done)
	}
	e.mu.Unlock()
	waited := make(chan struct{})
	go func() { e.work.wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("vrrpd: shutdown: hooks still running: %w", ctx.Err())
	}
}

func (e *Engine) sortedInstances() []*instance {
	return slices.SortedFunc(maps.Values(e.instances), func(a, b *instance) int {
		return cmp.Or(strings.Compare(a.cfg.Name, b.cfg.Name), cmp.Compare(a.cfg.VRID, b.cfg.VRID))
	})
}

// Status returns a snapshot of every instance, sorted by name.
func (e *Engine) Status() []InstanceStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []InstanceStatus
	for _, in := range e.sortedInstances() {
		st := in.status()
		st.Tracks = e.trackStatus(in)
		out = append(out, st)
	}
	return out
}

// CheckStatus returns every running tracked check once, sorted by name,
// with the groups that track it.
func (e *Engine) CheckStatus() []CheckStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	groups := map[string][]string{}
	for _, in := range e.sortedInstances() {
		for _, t := range in.cfg.TrackChecks {
			if g := groups[t.Check]; len(g) == 0 || g[len(g)-1] != in.cfg.Name {
				groups[t.Check] = append(g, in.cfg.Name)
			}
		}
	}
	out := make([]CheckStatus, 0, len(e.checks))
	for name, c := range e.checks {
		st := c.st
		st.Name, st.Rise, st.Fall, st.Groups = c.spec.Name, c.spec.Rise, c.spec.Fall, groups[name]
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b CheckStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Drops returns the packets not attributable to an instance.
func (e *Engine) Drops() UnattributedDrops {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := UnattributedDrops{}
	for k, m := range e.drops {
		out[k] = maps.Clone(m)
	}
	return out
}

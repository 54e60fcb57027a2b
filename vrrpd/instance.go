package vrrpd

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// stateStop is reported to stop hooks; it is never a running state.
const stateStop model.VRRPState = "stop"

// A backup whose Master_Down_Timer fires while a packet waits unread on
// its Conn looks again after takeoverDeferral, at most
// maxTakeoverDeferrals times in a row: the packet may be the master's
// advert. The bound keeps other groups' traffic on a shared Conn from
// delaying a real failover by more than a few milliseconds.
const (
	takeoverDeferral     = time.Millisecond
	maxTakeoverDeferrals = 3
)

// vipMismatchLogEvery rate-limits the "VIP list differs" log per instance.
const vipMismatchLogEvery = time.Minute

// instance is one VRRP virtual router (RFC 5798 section 6.4). All of its
// methods run with Engine.mu held; timers re-enter through Engine.fire.
type instance struct {
	e    *Engine
	cfg  model.Instance
	conn *connEntry
	auth [8]byte

	state model.VRRPState
	// prio is the effective priority: base plus tracking weights.
	prio uint8
	// ownFault is this instance's tracking verdict; syncFault is set while
	// another member of its sync group is faulted.
	ownFault, syncFault bool
	// faultReason says why while faulted() (set by retrack).
	faultReason string
	// masterAdverInt is Master_Adver_Interval: learned from the master's
	// adverts (v3), the configured interval otherwise.
	masterAdverInt time.Duration
	masterAddr     netip.Addr
	startedAt      time.Time

	// timer is the Master_Down_Timer in backup and the Adver_Timer in
	// master; timerGen invalidates a callback already on its way.
	timer    Timer
	timerGen uint64
	garpGen  uint64

	// added holds the VIPs this engine put on an interface, the only
	// ones it ever removes.
	added map[model.VIPSpec]bool

	lastTransition  time.Time
	reason          string
	counters        Counters
	lastMismatchLog time.Time
	// advertErr is why the instance's advert cannot be encoded ("" when
	// it can): it faults the instance (Engine.track).
	advertErr string
	// rejected is the current episode of adverts rejected from a foreign
	// configuration on our VRID (splitbrain.go).
	rejected          rejections
	lastSplitBrainLog time.Time
	lastReassert      time.Time
	hooks             *serialQueue
	// takeoverDeferrals counts consecutive looks for a waiting advert
	// before taking over (onTimer).
	takeoverDeferrals int
}

func (in *instance) faulted() bool { return in.ownFault || in.syncFault }

// skewTime is Skew_Time: v3 scales with the master's interval, v2 uses
// whole seconds (RFC 3768 section 6.1).
func (in *instance) skewTime() time.Duration {
	if in.cfg.Version == 2 {
		return time.Duration(256-int(in.prio)) * time.Second / 256
	}
	return time.Duration(256-int(in.prio)) * in.masterAdverInt / 256
}

func (in *instance) masterDownInterval() time.Duration {
	return 3*in.masterAdverInt + in.skewTime()
}

// arm (re)starts the instance timer.
func (in *instance) arm(d time.Duration) {
	in.disarm()
	gen := in.timerGen
	in.timer = in.e.cfg.Clock.AfterFunc(d, func() {
		in.e.fire(func() {
			if in.timerGen == gen {
				in.onTimer()
			}
		})
	})
}

func (in *instance) disarm() {
	in.timerGen++
	if in.timer != nil {
		in.timer.Stop()
		in.timer = nil
	}
}

// start leaves Initialize (RFC 5798 6.4.1).
func (in *instance) start() {
	in.state = model.StateInit
	in.startedAt = in.e.cfg.Clock.Now()
	in.lastTransition = in.startedAt
	in.masterAdverInt = in.cfg.AdvertInterval
	switch {
	case in.faulted():
		// VIPs an earlier run of ours left behind (claimRecorded) go now.
		in.releaseVIPs()
		in.becomeFault(in.faultReason)
	case in.cfg.Priority == model.OwnerPriority:
		in.becomeMaster("address owner (priority 255)", false)
	default:
		in.releaseVIPs()
		in.becomeBackup("start", false)
	}
}

func (in *instance) onTimer() {
	switch in.state {
	case model.StateBackup:
		if in.takeoverDeferrals < maxTakeoverDeferrals && in.conn.advertWaiting() {
			// Read what has arrived first; an advert from the master re-arms
			// the timer from the time the kernel received it.
			in.takeoverDeferrals++
			in.arm(takeoverDeferral)
			return
		}
		in.takeoverDeferrals = 0
		in.becomeMaster("master down timer expired", false)
	case model.StateMaster:
		in.sendAdvert(in.prio)
		in.arm(in.cfg.AdvertInterval)
	}
}

// onAdvert handles an advert that passed every policy check; age is how
// long ago the kernel received it (timers run from then).
func (in *instance) onAdvert(a *packet.Advert, src netip.Addr, age time.Duration) {
	in.takeoverDeferrals = 0
	switch in.state {
	case model.StateBackup:
		switch {
		case a.Priority == 0:
			in.arm(max(in.skewTime()-age, 0))
		case !in.cfg.Preempt || a.Priority >= in.prio || in.inPreemptDelay():
			in.masterAddr = src
			if in.cfg.Version == 3 {
				in.masterAdverInt = a.Interval
			}
			in.arm(max(in.masterDownInterval()-age, 0))
		default:
			// A lower-priority master: let the timer run out and take over.
		}
	case model.StateMaster:
		switch {
		case a.Priority == 0:
			in.sendAdvert(in.prio)
			in.arm(in.cfg.AdvertInterval)
		case a.Priority > in.prio || a.Priority == in.prio && src.Unmap().Compare(in.conn.conn.LocalAddr().Unmap()) > 0:
			if in.cfg.Version == 3 {
				in.masterAdverInt = a.Interval
			}
			in.masterAddr = src
			in.becomeBackup("higher-priority advert from "+src.String(), false)
		default:
			// Another node thinks it is master but we win: assert at once
			// and re-announce so switches relearn where the VIPs live.
			// At most once per interval: two nodes that both believe they
			// win (e.g. a peer seeing another source address than we
			// compare) must not storm each other.
			now := in.e.cfg.Clock.Now()
			if !in.lastReassert.IsZero() && now.Sub(in.lastReassert) < in.cfg.AdvertInterval {
				return
			}
			in.lastReassert = now
			in.sendAdvert(in.prio)
			in.arm(in.cfg.AdvertInterval)
			in.announce(in.cfg.VIPs)
		}
	}
}

func (in *instance) inPreemptDelay() bool {
	return in.cfg.PreemptDelay > 0 && in.e.cfg.Clock.Now().Before(in.startedAt.Add(in.cfg.PreemptDelay))
}

func (in *instance) setState(to model.VRRPState, reason string) {
	if from := in.state; in.enterState(to, reason) {
		in.reportTransition(from)
	}
}

// enterState changes the state without telling anyone; reportTransition
// then logs and notifies. becomeMaster does its wire and kernel work in
// between, so the log write and hook start-up do not delay the VIPs.
func (in *instance) enterState(to model.VRRPState, reason string) bool {
	if in.state == to {
		return false
	}
	in.state = to
	in.lastTransition = in.e.cfg.Clock.Now()
	in.reason = reason
	in.counters.Transitions++
	return true
}

func (in *instance) reportTransition(from model.VRRPState) {
	in.e.log.Info("vrrp transition", "group", in.cfg.Name, "vrid", in.cfg.VRID, "interface", in.cfg.Interface,
		"from", string(from), "to", string(in.state), "priority", in.prio, "master", in.masterAddr, "reason", in.reason)
	in.e.syncNotify(in)
	in.e.runHook(in.hooks, in.cfg.Notify, in.cfg.Name, in.state, in.prio)
	if f := in.e.cfg.OnTransition; f != nil {
		f()
	}
}

// becomeMaster: RFC 5798 6.4.1/6.4.2 transition to Master. bySync is set
// when a sync-group peer pulled us along, so we do not propagate back.
func (in *instance) becomeMaster(reason string, bySync bool) {
	if in.state == model.StateMaster || in.faulted() {
		return
	}
	// As keepalived and RFC 5798 6.4.1 order it: advert, VIPs, gratuitous
	// ARPs; telling the log and hooks comes after.
	from := in.state
	in.masterAddr = in.conn.conn.LocalAddr()
	in.enterState(model.StateMaster, reason)
	in.sendAdvert(in.prio)
	in.addVIPs(in.cfg.VIPs)
	in.garpGen++
	in.announce(in.cfg.VIPs)
	in.reportTransition(from)
	if d := in.cfg.GARP.RefreshDelay; d > 0 {
		gen := in.garpGen
		in.e.cfg.Clock.AfterFunc(d, func() {
			in.e.fire(func() {
				if gen == in.garpGen {
					in.announce(in.cfg.VIPs)
				}
			})
		})
	}
	in.arm(in.cfg.AdvertInterval)
	if !bySync {
		in.e.syncFollow(in, model.StateMaster)
	}
}

func (in *instance) becomeBackup(reason string, bySync bool) {
	wasMaster := in.state == model.StateMaster
	if wasMaster {
		in.garpGen++
		in.releaseVIPs()
	}
	if in.state != model.StateBackup {
		if !wasMaster {
			in.masterAddr = netip.Addr{}
		}
		in.setState(model.StateBackup, reason)
	}
	in.arm(in.masterDownInterval())
	if wasMaster && !bySync {
		in.e.syncFollow(in, model.StateBackup)
	}
}

func (in *instance) becomeFault(reason string) {
	if in.state == model.StateFault {
		return
	}
	in.disarm()
	in.resign()
	in.masterAddr = netip.Addr{}
	in.setState(model.StateFault, reason)
}

// resign gives mastership up at once: a priority-0 advert tells the
// backups to take over after Skew_Time instead of Master_Down_Interval.
func (in *instance) resign() {
	if in.state != model.StateMaster {
		return
	}
	in.garpGen++
	in.sendAdvert(0)
	in.releaseVIPs()
}

// stop ends the instance for good (removed or engine shutdown).
func (in *instance) stop(reason string) {
	in.disarm()
	in.resign()
	in.setState(stateStop, reason)
}

// advert is the instance's advert with priority prio.
func (in *instance) advert(prio uint8) packet.Advert {
	a := packet.Advert{
		Version:  in.cfg.Version,
		VRID:     in.cfg.VRID,
		Priority: prio,
		Interval: in.cfg.AdvertInterval,
		Addrs:    in.vipAddrs(),
	}
	if in.cfg.Auth != nil {
		a.AuthType = packet.AuthPass
		a.AuthData = in.auth
	}
	return a
}

// advertDsts are where adverts go: the group, or every unicast peer.
func (in *instance) advertDsts() []netip.Addr {
	switch {
	case in.cfg.Unicast:
		return in.cfg.Peers
	case in.cfg.Family == model.IPv6:
		return []netip.Addr{packet.Group6}
	}
	return []netip.Addr{packet.Group4}
}

// checkAdvert encodes the instance's advert for every destination, as
// sendAdvert will, and records whether it can be: one that cannot
// faults the instance at the next retrack, so it is never a master that
// stays silent while a peer takes over. Called whenever the
// configuration or the Conn changes (what the advert depends on).
func (in *instance) checkAdvert() {
	a := in.advert(in.prio)
	was := in.advertErr
	in.advertErr = ""
	for _, dst := range in.advertDsts() {
		if _, err := packet.Encode(&a, in.conn.conn.LocalAddr(), dst); err != nil {
			in.advertErr = "cannot encode its advert: " + strings.TrimPrefix(err.Error(), "vrrp: ")
			break
		}
	}
	switch {
	case in.advertErr != "" && in.advertErr != was:
		in.counters.AdvertErrors++
		in.e.log.Error("vrrp: group faulted: its advert cannot be encoded, so it must not be master (a peer that can advertise serves the VIPs)",
			"group", in.cfg.Name, "vrid", in.cfg.VRID, "interface", in.cfg.Interface, "err", in.advertErr)
	case in.advertErr == "" && was != "":
		in.e.log.Info("vrrp: the group's advert can be encoded again", "group", in.cfg.Name)
	}
}

// sendAdvert sends one advert: to the group, or to every unicast peer.
func (in *instance) sendAdvert(prio uint8) {
	if in.advertErr != "" {
		return // faulted for it; checkAdvert logged why
	}
	a := in.advert(prio)
	for _, dst := range in.advertDsts() {
		// Cannot fail: checkAdvert has encoded this advert for dst.
		in.e.sendBuf, _ = packet.AppendEncode(in.e.sendBuf[:0], &a, in.conn.conn.LocalAddr(), dst)
		if err := in.conn.conn.WriteTo(in.e.sendBuf, dst); err != nil {
			in.e.log.Warn("vrrp: sending advert", "group", in.cfg.Name, "dst", dst, "err", err)
			continue
		}
		in.counters.AdvertsSent++
	}
}

// vipAddrs are the VIP addresses of the instance's family, as advertised.
func (in *instance) vipAddrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(in.cfg.VIPs))
	for _, v := range in.cfg.VIPs {
		if a := v.Prefix.Addr(); a.Is4() == (in.cfg.Family != model.IPv6) {
			out = append(out, a)
		}
	}
	return out
}

// addVIPs adds the VIPs whose address is not on their device yet,
// remembering them as ours, without listing the devices: every VIP not
// ours yet is recorded, then added unless present (Addresses.AddNew),
// and the present ones (someone else's) are forgotten again. Only a
// crash in the microseconds between could leave such an address
// recorded as ours; a list first would instead race with anyone adding
// the address between the list and the add, and cost a dump of every
// address on the new master's path.
func (in *instance) addVIPs(vips []model.VIPSpec) {
	var todo []model.VIPSpec
	for _, v := range vips {
		if !in.added[v] {
			in.added[v] = true // once, should vips list v twice
			todo = append(todo, v)
		}
	}
	in.recordThenAdd(todo, in.e.cfg.Addrs.AddNew)
}

// recordThenAdd records vips as ours before it adds them, so a crash in
// between cannot leave an address the next run would take for the
// administrator's; a VIP add did not add is forgotten again. It returns
// the VIPs added.
func (in *instance) recordThenAdd(vips []model.VIPSpec, add func(model.VIPSpec) (bool, error)) []model.VIPSpec {
	if len(vips) == 0 {
		return nil
	}
	for _, v := range vips {
		in.added[v] = true
	}
	in.e.saveRecord()
	var done []model.VIPSpec
	for _, v := range vips {
		ok, err := add(v)
		if err != nil {
			in.e.log.Error("vrrp: adding VIP", "group", in.cfg.Name, "vip", v.Prefix, "device", v.Device, "err", err)
		}
		if ok {
			done = append(done, v)
		} else {
			delete(in.added, v)
		}
	}
	if len(done) < len(vips) {
		in.e.saveRecord()
	}
	return done
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == a })
}

// releaseVIPs deletes only the VIPs this engine added, then records
// that they are gone.
func (in *instance) releaseVIPs() {
	if len(in.added) == 0 {
		return
	}
	for _, v := range in.cfg.VIPs {
		in.dropVIP(v)
	}
	// VIPs dropped from the config while we held them.
	for v := range in.added {
		in.dropVIP(v)
	}
	in.e.saveRecord()
}

// dropVIP deletes v if we added it; the caller saves the record. A VIP
// that cannot be deleted stays ours (and recorded) so a later release
// retries. The node's own address is never deleted.
func (in *instance) dropVIP(v model.VIPSpec) {
	if !in.added[v] {
		return
	}
	if in.e.isOwnAddress(v.Prefix.Addr()) {
		in.e.log.Warn("vrrp: not deleting the node's own address", "group", in.cfg.Name, "vip", v.Prefix, "device", v.Device)
		delete(in.added, v)
		return
	}
	if err := in.e.cfg.Addrs.Delete(v); err != nil {
		in.e.log.Error("vrrp: deleting VIP", "group", in.cfg.Name, "vip", v.Prefix, "device", v.Device, "err", err)
		return
	}
	delete(in.added, v)
}

// announce announces vips GARP.Repeat times (at least once), Interval
// apart, unless mastership is lost (garpGen changes) in between.
func (in *instance) announce(vips []model.VIPSpec) {
	gen := in.garpGen
	byDev := map[string][]netip.Addr{}
	var devs []string
	for _, v := range vips {
		if _, ok := byDev[v.Device]; !ok {
			devs = append(devs, v.Device)
		}
		byDev[v.Device] = append(byDev[v.Device], v.Prefix.Addr())
	}
	var burst func(left int)
	burst = func(left int) {
		for ; left > 0 && gen == in.garpGen && in.state == model.StateMaster; left-- {
			for _, d := range devs {
				if err := in.e.cfg.Announcer.Announce(d, byDev[d]); err != nil {
					in.e.log.Warn("vrrp: announcing VIPs", "group", in.cfg.Name, "device", d, "err", err)
				}
			}
			if iv := in.cfg.GARP.Interval; iv > 0 && left > 1 {
				in.e.cfg.Clock.AfterFunc(iv, func() { in.e.fire(func() { burst(left - 1) }) })
				return
			}
		}
	}
	burst(max(in.cfg.GARP.Repeat, 1))
}

// reconfigure applies a changed config of the same key live.
func (in *instance) reconfigure(next model.Instance, auth [8]byte) {
	prev := in.cfg
	in.cfg = next
	in.auth = auth
	in.checkAdvert()
	if in.cfg.Version == 2 || in.state != model.StateBackup {
		in.masterAdverInt = next.AdvertInterval
	}
	if in.state != model.StateMaster || in.advertErr != "" {
		// A master whose advert no longer fits is faulted by the
		// retrack that follows, which releases what it holds.
		return
	}
	var added []model.VIPSpec
	for _, v := range next.VIPs {
		if !slices.Contains(prev.VIPs, v) {
			added = append(added, v)
		}
	}
	for _, v := range prev.VIPs {
		if !slices.Contains(next.VIPs, v) {
			in.dropVIP(v)
		}
	}
	in.e.saveRecord()
	if len(added) > 0 {
		in.addVIPs(added)
		in.announce(added)
	}
}

func (in *instance) status() InstanceStatus {
	c := in.counters
	c.Drops = maps.Clone(c.Drops)
	return InstanceStatus{
		Name: in.cfg.Name, Key: in.cfg.Key(), State: in.state,
		Priority: in.prio, BasePriority: in.cfg.Priority,
		MasterAddr: in.masterAddr, LastTransition: in.lastTransition, Reason: in.reason,
		Counters: c, AdvertError: in.advertErr, SplitBrain: in.splitBrain(),
	}
}

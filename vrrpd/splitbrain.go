package vrrpd

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// Split brain is otherwise silent: a router on our VRID whose adverts we
// reject (another password, version or v2 interval, a unicast sender
// that is no peer) is a master we do not obey, and it does not obey us.
// Only well-formed adverts with a non-zero priority count: a priority-0
// advert is a router resigning, and malformed or routed packets say
// nothing about a peer's configuration.

// splitBrainLogEvery rate-limits the split-brain warning per instance.
const splitBrainLogEvery = time.Minute

// splitBrainMinHold is the least time a suspicion outlives the last
// rejected advert: long enough that adverts lost now and then do not
// clear and raise it again.
const splitBrainMinHold = 5 * time.Second

// splitBrainHold is how long a suspicion lasts after the last rejected
// advert: three of the longer of the two advert intervals (a master
// silent that long is gone, RFC 5798's Master_Down_Interval), at least
// splitBrainMinHold.
func splitBrainHold(ours, theirs time.Duration) time.Duration {
	return max(3*max(ours, theirs), splitBrainMinHold)
}

// rejections is one episode of rejected adverts: from the first until
// none came for hold.
type rejections struct {
	first, last time.Time
	hold        time.Duration
	count       uint64
	byReason    map[DropReason]uint64
	src         netip.Addr // the latest sender
	// logged is the count at the last warning.
	logged uint64
}

// noteRejected records an advert dropped by a policy check that a
// foreign configuration on our VRID fails.
func (in *instance) noteRejected(r DropReason, src netip.Addr, a *packet.Advert) {
	if a.Priority == 0 {
		return
	}
	now := in.e.cfg.Clock.Now()
	ep := &in.rejected
	if !ep.active(now) {
		*ep = rejections{first: now, byReason: map[DropReason]uint64{}}
	}
	ep.last, ep.src = now, src
	ep.hold = splitBrainHold(in.cfg.AdvertInterval, a.Interval)
	ep.count++
	ep.byReason[r]++
	if in.lastSplitBrainLog.IsZero() || now.Sub(in.lastSplitBrainLog) >= splitBrainLogEvery {
		in.lastSplitBrainLog = now
		in.e.log.Warn("vrrp: split brain suspected: rejecting adverts for our VRID from a router configured otherwise",
			"group", in.cfg.Name, "vrid", in.cfg.VRID, "interface", in.cfg.Interface, "src", src,
			"reasons", ep.reasons(), "rejected", ep.count-ep.logged, "since", ep.first, "state", string(in.state))
		ep.logged = ep.count
	}
}

func (ep *rejections) active(now time.Time) bool {
	return ep.count > 0 && now.Sub(ep.last) <= ep.hold
}

// reasons lists the episode's drop reasons, most frequent first.
func (ep *rejections) reasons() string {
	rs := slices.SortedFunc(maps.Keys(ep.byReason), func(a, b DropReason) int {
		return cmp.Or(cmp.Compare(ep.byReason[b], ep.byReason[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, r := range rs {
		parts = append(parts, string(r))
	}
	return strings.Join(parts, ", ")
}

// splitBrain words the current suspicion for the status ("" for none).
func (in *instance) splitBrain() string {
	now := in.e.cfg.Clock.Now()
	ep := &in.rejected
	if !ep.active(now) {
		return ""
	}
	noun := "adverts"
	if ep.count == 1 {
		noun = "advert"
	}
	return fmt.Sprintf("split-brain suspected: %d %s for VRID %d rejected (%s) from %s in the last %v",
		ep.count, noun, in.cfg.VRID, ep.reasons(), ep.src, max(now.Sub(ep.first).Round(time.Second), time.Second))
}

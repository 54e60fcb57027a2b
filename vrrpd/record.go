package vrrpd

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"github.com/hakeeper/hakeeper/model"
)

// VIP ownership across restarts. The engine only ever deletes VIPs it
// added; Config.VIPs remembers which those are beyond the life of the
// process. The record is written before an address is added and after
// one is deleted, so a crash at any point leaves the record a superset
// of the engine's addresses on the interfaces; entries whose address is
// gone are dropped at the next start.

// claimRecorded runs at every Apply before new instances start. On the
// first call it loads the record: recorded VIPs still on their device
// become leftovers. A leftover configured in an instance just started
// (or in a running master) is given back to that instance as its own,
// so starting as backup removes it and starting as master keeps it.
// Any other leftover (its group is gone, or a running backup's) is
// deleted now. The node's own addresses are never deleted.
func (e *Engine) claimRecorded(started []*instance) {
	if e.cfg.VIPs == nil {
		return
	}
	first := !e.recordLoaded
	if first {
		e.recordLoaded = true
		e.loadLeftovers()
	}
	// The first time it is written even empty: that drops entries whose
	// address is gone, and creating the file would otherwise fall on the
	// first new master's path.
	if len(e.leftover) == 0 && !first {
		return
	}
	for _, v := range sortedVIPs(e.leftover) {
		var owner *instance
		for _, in := range e.sortedInstances() {
			if slices.Contains(in.cfg.VIPs, v) && (slices.Contains(started, in) || in.state == model.StateMaster) {
				owner = in
				break
			}
		}
		switch {
		case owner != nil:
			owner.added[v] = true
			delete(e.leftover, v)
			e.log.Info("vrrp: VIP recorded as ours before a restart is taken back", "group", owner.cfg.Name, "vip", v.Prefix, "device", v.Device)
		case e.isOwnAddress(v.Prefix.Addr()):
			delete(e.leftover, v)
			e.log.Warn("vrrp: recorded VIP is this node's own address; leaving it", "vip", v.Prefix, "device", v.Device)
		default:
			if err := e.cfg.Addrs.Delete(v); err != nil {
				e.log.Error("vrrp: deleting a VIP left behind", "vip", v.Prefix, "device", v.Device, "err", err)
				continue
			}
			delete(e.leftover, v)
			e.log.Warn("vrrp: deleted a VIP left behind by an earlier run (its group is not configured or not master here)", "vip", v.Prefix, "device", v.Device)
		}
	}
	e.saveRecord()
}

// loadLeftovers reads the record and keeps the entries whose address is
// still on its device (or whose device cannot be listed: deleting is
// idempotent, forgetting is not).
func (e *Engine) loadLeftovers() {
	recorded, err := e.cfg.VIPs.Load()
	if err != nil {
		e.log.Error("vrrp: reading the record of added VIPs; VIPs left by an earlier run stay", "err", err)
		return
	}
	list := e.addrLister("of a recorded VIP")
	for _, v := range recorded {
		if have, ok := list(v.Device); !ok || containsAddr(have, v.Prefix.Addr()) {
			e.leftover[v] = true
		}
	}
}

// saveRecord writes the VIPs the engine holds as its own (every
// instance's plus leftovers not yet removed) when they changed since the
// last successful save (the first call always writes, dropping entries
// whose address was gone at start-up). A failed save is logged and retried on the next
// change: refusing to add a VIP would be worse than a stale record.
func (e *Engine) saveRecord() {
	if e.cfg.VIPs == nil {
		return
	}
	all := maps.Clone(e.leftover)
	for _, in := range e.instances {
		maps.Copy(all, in.added)
	}
	list := sortedVIPs(all)
	if e.saved != nil && slices.Equal(list, e.saved) {
		return
	}
	if err := e.cfg.VIPs.Save(list); err != nil {
		e.log.Error("vrrp: saving the record of added VIPs", "err", err)
		return
	}
	e.saved = list // never nil: sortedVIPs makes it
}

// keepLeftovers moves the VIPs a stopping instance could not delete to
// the leftovers, so they stay recorded and the next start removes them.
func (e *Engine) keepLeftovers(in *instance) {
	maps.Copy(e.leftover, in.added)
	clear(in.added)
}

func (e *Engine) isOwnAddress(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && (a == e.ownAddr4.Unmap() || a == e.ownAddr6.Unmap())
}

func sortedVIPs(set map[model.VIPSpec]bool) []model.VIPSpec {
	out := slices.AppendSeq(make([]model.VIPSpec, 0, len(set)), maps.Keys(set))
	slices.SortFunc(out, compareVIPs)
	return out
}

func compareVIPs(a, b model.VIPSpec) int {
	return cmp.Or(cmp.Compare(a.Device, b.Device), a.Prefix.Addr().Compare(b.Prefix.Addr()),
		cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.Label, b.Label))
}

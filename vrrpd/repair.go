package vrrpd

import (
	"net/netip"

	"github.com/hakeeper/hakeeper/model"
)

// RepairVIPs puts back the VIPs of master instances that are missing from
// their device (deleted by hand, or by another tool) and announces them
// again, so the segment learns where they live. It returns the VIPs it
// re-added; an engine in sync lists addresses and writes nothing. The
// reconciler calls it on every drift check.
func (e *Engine) RepairVIPs() []model.VIPSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	var repaired []model.VIPSpec
	for _, in := range e.sortedInstances() {
		if in.state != model.StateMaster {
			continue
		}
		present := map[string][]netip.Prefix{}
		var missing []model.VIPSpec
		for _, v := range in.cfg.VIPs {
			have, ok := present[v.Device]
			if !ok {
				var err error
				if have, err = e.cfg.Addrs.List(v.Device); err != nil {
					e.log.Warn("vrrp: listing addresses for repair", "group", in.name(), "device", v.Device, "err", err)
					present[v.Device] = nil
					continue
				}
				present[v.Device] = have
			}
			if !containsAddr(have, v.Prefix.Addr()) {
				missing = append(missing, v)
			}
		}
		if len(missing) == 0 {
			continue
		}
		for _, v := range in.addMissing(missing) {
			repaired = append(repaired, v)
			e.log.Warn("vrrp: VIP was missing on the master, re-added", "group", in.name(), "vip", v.Prefix, "device", v.Device)
		}
		in.announce(missing)
	}
	return repaired
}

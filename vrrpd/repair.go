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
	list := e.addrLister("for repair") // each device listed once per repair
	for _, in := range e.sortedInstances() {
		if in.state != model.StateMaster {
			continue
		}
		var missing []model.VIPSpec
		for _, v := range in.cfg.VIPs {
			if have, ok := list(v.Device); ok && !containsAddr(have, v.Prefix.Addr()) {
				missing = append(missing, v)
			}
		}
		if len(missing) == 0 {
			continue
		}
		added := in.recordThenAdd(missing, func(v model.VIPSpec) (bool, error) {
			err := e.cfg.Addrs.Add(v)
			return err == nil, err
		})
		for _, v := range added {
			repaired = append(repaired, v)
			e.log.Warn("vrrp: VIP was missing on the master, re-added", "group", in.cfg.Name, "vip", v.Prefix, "device", v.Device)
		}
		if len(added) > 0 {
			in.announce(added)
		}
	}
	return repaired
}

// addrLister returns a function that lists a device's addresses, once
// per device; ok is false (and the error logged) when the device could
// not be listed: what is on it is unknown.
func (e *Engine) addrLister(purpose string) func(device string) (have []netip.Prefix, ok bool) {
	type listing struct {
		have []netip.Prefix
		ok   bool
	}
	done := map[string]listing{}
	return func(device string) ([]netip.Prefix, bool) {
		l, seen := done[device]
		if !seen {
			have, err := e.cfg.Addrs.List(device)
			if err != nil {
				e.log.Warn("vrrp: listing addresses "+purpose, "device", device, "err", err)
			}
			l = listing{have, err == nil}
			done[device] = l
		}
		return l.have, l.ok
	}
}

package controller

import (
	"fmt"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
)

// syncMarks makes the fwmark rules those of services and returns how
// many writes that took. Every node programming a service keeps its
// rules, master or backup, as keepalived users keep iptables rules on
// every director: a backup taking over needs them at once.
func (c *Controller) syncMarks(services []model.VirtualService) (int, error) {
	desired := marks.FromModel(services)
	if c.cfg.Marks == nil && len(desired) > 0 {
		return 0, fmt.Errorf("nftables is not available on this node, but %d fwmark rules are desired (first: service %s)", len(desired), desired[0].Service)
	} else if c.cfg.Marks == nil {
		return 0, nil
	}
	p, err := marks.Sync(c.cfg.Marks, desired)
	if err != nil {
		return 0, fmt.Errorf("fwmark rules: %w", err)
	}
	return p.Ops(), nil
}

// repairMarks puts back fwmark rules changed behind hakeeper's back.
// Health does not change them, so any write here repairs drift.
func (c *Controller) repairMarks(res *Result) error {
	ops, err := c.syncMarks(c.report.running.Services)
	if ops > 0 {
		c.log.Warn("drift: fwmark rules differed from the desired ones and were put back", "operations", ops)
		c.m.driftRepairs.WithLabelValues("fwmark").Add(float64(ops))
		res.Repaired += ops
		c.noteDrift(0, 0, "fwmark rules")
	}
	return err
}

package controller

import (
	"errors"
	"fmt"

	"github.com/hakeeper/hakeeper/model"
)

// syncRealServer makes the kernel hold role. On a drift pass (the role in
// force unchanged) any write puts back a hand-made change.
func (c *Controller) syncRealServer(role *model.RealServerRole, res *Result, drift bool) error {
	if c.cfg.RealServer == nil {
		if role != nil && len(role.VIPs) > 0 {
			return errors.New("real-server role: not available on this node")
		}
		return nil
	}
	pl, done, err := c.cfg.RealServer.Sync(role)
	for _, n := range pl.Notes {
		c.log.Warn("real-server role: " + n)
	}
	if drift && done > 0 {
		c.log.Warn("drift: the real-server role differed and was put back", "operations", done, "first", pl.Ops[0].String())
		c.m.driftRepairs.WithLabelValues("realserver").Add(float64(done))
		res.Repaired += done
		c.noteDrift(0, 0, "real-server "+pl.Ops[0].String())
	} else if done > 0 {
		c.log.Info("real-server role applied", "operations", done)
	}
	if err != nil {
		return fmt.Errorf("real-server role: %w", err)
	}
	return nil
}

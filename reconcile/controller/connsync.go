package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// syncDaemons runs the node's IPVS connection-sync daemon in the state
// its group's VRRP state asks for (master on the master, backup
// otherwise). A change while the wanted daemons stayed the same is drift
// (a daemon stopped by hand) and counted so. Without connectionSync the
// kernel's daemons are left alone, unless hakeeper started them.
func (c *Controller) syncDaemons(spec *model.ConnectionSyncSpec, res *Result) error {
	k := c.cfg.SyncDaemons
	if spec == nil && c.syncWant == nil {
		return nil
	}
	if k == nil {
		return fmt.Errorf("IPVS connection sync is not available on this node, but group %q sets connectionSync", spec.Group)
	}
	var state model.VRRPState
	if spec != nil {
		state = model.StateInit
		engine := c.cfg.Engine.Status()
		if i := slices.IndexFunc(engine, func(s vrrpd.InstanceStatus) bool { return s.Name == spec.Group }); i >= 0 {
			state = engine[i].State
		}
	}
	want := lvs.SyncDaemonsFromModel(spec, state)
	started, stopped, err := lvs.ApplySyncDaemons(k, want)
	drift := slices.Equal(want, c.syncWant)
	for _, d := range stopped {
		c.log.Info("IPVS sync daemon stopped", "daemon", d.String())
	}
	for _, d := range started {
		if drift {
			c.log.Warn("drift: IPVS sync daemon was not running as wanted and was started", "daemon", d.String())
			c.m.driftRepairs.WithLabelValues("sync-daemon").Inc()
			res.Repaired++
			c.noteDrift(0, 0, "IPVS sync daemon "+d.State.String())
		} else {
			c.log.Info("IPVS sync daemon started", "daemon", d.String(), "group", spec.Group, "vrrp", string(state))
		}
	}
	if err != nil {
		return fmt.Errorf("connection sync: %w", err)
	}
	c.syncWant = want
	for _, s := range []lvs.SyncState{lvs.SyncMaster, lvs.SyncBackup} {
		running := slices.ContainsFunc(want, func(d lvs.SyncDaemon) bool { return d.State == s })
		c.m.syncDaemons.WithLabelValues(s.String()).Set(boolValue(running))
	}
	return nil
}

// followTransitions switches the sync daemon after VRRP transitions. It
// runs alone, not in a full pass: a new master's daemon should not wait
// for an IPVS table read.
func (c *Controller) followTransitions(ctx context.Context) {
	if err := c.lockPass(ctx); err != nil {
		return
	}
	defer c.unlockPass()
	if c.closed || c.report.running == nil {
		return
	}
	if err := c.syncDaemons(c.report.running.ConnectionSync, &Result{}); err != nil {
		c.log.Error("following a VRRP transition", "err", err)
	}
}

// stopSyncDaemons stops the daemons hakeeper runs, on Shutdown.
func (c *Controller) stopSyncDaemons() error {
	if c.syncWant == nil || c.cfg.SyncDaemons == nil {
		return nil
	}
	_, _, err := lvs.ApplySyncDaemons(c.cfg.SyncDaemons, nil)
	c.syncWant = nil
	return err
}

// syncDaemonsReport reads the kernel's daemons for the status report.
func (c *Controller) syncDaemonsReport(running *model.NodeState) []status.SyncDaemon {
	if c.cfg.SyncDaemons == nil {
		return nil
	}
	ds, err := c.cfg.SyncDaemons.SyncDaemons()
	if err != nil {
		c.log.Warn("reading IPVS sync daemons", "err", err)
		return nil
	}
	var out []status.SyncDaemon
	for _, d := range ds {
		s := status.SyncDaemon{State: d.State.String(), Interface: d.Interface, SyncID: d.SyncID,
			MulticastGroup: d.Group.String(), Port: d.Port, TTL: d.TTL, MaxPacketSize: d.MaxLen}
		if running != nil && running.ConnectionSync != nil {
			s.Group = running.ConnectionSync.Group
		}
		out = append(out, s)
	}
	return out
}

package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd/bgp"
)

// bgpCheckEvery is how often the tracked checks of bgp groups are looked
// at between passes: their verdicts live in the engine, which tells no
// one when one turns. It is below the shortest check interval the
// description may set, so a verdict waits at most this long.
const bgpCheckEvery = 100 * time.Millisecond

// bgpState is what the BGP part reports; written by passes (and
// Shutdown) under c.mu.
type bgpState struct {
	// groups: group name → why its VIPs are withdrawn ("" announced).
	groups map[string]string
	// stopping: Shutdown withdrew everything.
	stopping bool
	// checks are the bgp groups' tracked checks' verdicts the last sync saw.
	checks map[string]bool
	// passwords are the last ones read per peer, kept while a read
	// fails; only passes use them (no lock).
	passwords map[netip.Addr]string
}

// syncBGP makes the speaker announce each bgp group of st whose node can
// serve it, and withdraw the others, recording why.
func (c *Controller) syncBGP(st *model.NodeState) error {
	if st == nil || st.BGP == nil {
		if c.cfg.BGP != nil {
			c.mu.Lock()
			c.bgp.groups = nil
			c.mu.Unlock()
			return c.cfg.BGP.Apply(bgp.Config{})
		}
		return nil
	}
	if c.cfg.BGP == nil {
		return errors.New("BGP is not available on this node, but it is a member of a bgp group")
	}
	b := st.BGP
	cfg := bgp.Config{ASN: b.ASN, RouterID: b.RouterID}
	var errs []error
	for _, p := range b.Peers {
		pw, err := p.ReadPassword()
		last, known := c.bgp.passwords[p.Address]
		switch {
		case err == nil:
			if c.bgp.passwords == nil {
				c.bgp.passwords = map[netip.Addr]string{}
			}
			c.bgp.passwords[p.Address] = pw
		case known:
			// A session up with the last password stays up.
			errs = append(errs, err)
			pw = last
		default:
			// Without its password the session cannot come up; the
			// others still do.
			errs = append(errs, err)
			continue
		}
		peer := bgp.Peer{Address: p.Address, ASN: p.ASN, LocalAddress: p.LocalAddress, Password: pw, HoldTime: p.HoldTime, Keepalive: p.Keepalive}
		if p.BFDInterval > 0 {
			peer.BFD = &bgp.BFD{MinTx: p.BFDInterval, MinRx: p.BFDInterval, Multiplier: p.BFDMultiplier}
		}
		cfg.Peers = append(cfg.Peers, peer)
	}
	checks := c.bgpChecks(st)
	reasons := map[string]string{}
	for _, g := range b.Groups {
		why := c.withdrawReason(st, g, checks)
		reasons[g.Name] = why
		if why != "" {
			continue
		}
		for _, p := range g.VIPs {
			cfg.Routes = append(cfg.Routes, bgp.Route{Prefix: p, MED: g.MED, Prepend: g.Prepend})
		}
	}
	c.mu.Lock()
	for name, why := range reasons {
		if old, seen := c.bgp.groups[name]; !seen || old != why {
			if why == "" {
				c.log.Info("bgp: announcing", "group", name)
			} else {
				c.log.Warn("bgp: withdrawing", "group", name, "reason", why)
			}
		}
	}
	c.bgp.groups, c.bgp.checks = reasons, checks
	c.mu.Unlock()
	if err := c.cfg.BGP.Apply(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withdrawReason says why the node must not announce g now; "" when it
// can serve it.
func (c *Controller) withdrawReason(st *model.NodeState, g model.BGPGroup, checks map[string]bool) string {
	c.mu.Lock()
	stopping, pending := c.bgp.stopping, c.report.pending
	c.mu.Unlock()
	switch {
	case stopping:
		return "stopping"
	case st.BGP.WithdrawOnSourceLoss && pending != nil && pending.stage == "fetch" && !pending.refused:
		return "source lost: " + oneLine(pending.err.Error())
	}
	for _, name := range g.Services {
		i := slices.IndexFunc(st.Services, func(vs model.VirtualService) bool { return vs.Name == name })
		if i < 0 {
			continue
		}
		vs := st.Services[i]
		var healthy func(model.RealServerSpec) bool
		if c.cfg.Checker != nil {
			healthy = c.cfg.Checker.HealthFunc(vs)
		}
		up := 0
		for _, rs := range vs.RealServers {
			if rs.Check == nil || healthy == nil || healthy(rs) {
				up += max(rs.Weight, 0)
			}
		}
		if up < vs.Quorum {
			return fmt.Sprintf("service %s below quorum (weight %d of %d up)", name, up, vs.Quorum)
		}
	}
	for _, name := range g.TrackChecks {
		if !checks[name] {
			return "check " + name + " failing"
		}
	}
	return ""
}

// bgpChecks are the verdicts of the tracked checks bgp groups refer to.
// A check not started yet counts as passing, as it does for VRRP.
func (c *Controller) bgpChecks(st *model.NodeState) map[string]bool {
	out := map[string]bool{}
	if st == nil || st.BGP == nil {
		return out
	}
	for _, g := range st.BGP.Groups {
		for _, name := range g.TrackChecks {
			out[name] = true
		}
	}
	if len(out) == 0 {
		return out
	}
	for _, ch := range c.cfg.Engine.CheckStatus() {
		if _, ok := out[ch.Name]; ok {
			out[ch.Name] = ch.Passing
		}
	}
	return out
}

// bgpChecksChanged reports whether a bgp group's tracked check turned
// since the last sync.
func (c *Controller) bgpChecksChanged() bool {
	running := c.Running()
	if running == nil || running.BGP == nil {
		return false
	}
	now := c.bgpChecks(running)
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, pass := range now {
		if c.bgp.checks[name] != pass {
			return true
		}
	}
	return false
}

// withdrawAndDrain is a graceful stop's first step: withdraw every VIP,
// then keep serving for the drain time while the routers move the flows
// elsewhere, then close the sessions.
func (c *Controller) withdrawAndDrain(ctx context.Context) error {
	running := c.Running()
	if c.cfg.BGP == nil {
		return nil
	}
	if running == nil || running.BGP == nil {
		return c.cfg.BGP.Stop()
	}
	c.mu.Lock()
	c.bgp.stopping = true
	c.mu.Unlock()
	if err := c.syncBGP(running); err != nil {
		// Stop's Cease withdraws the routes at the latest: the stop
		// goes on.
		c.log.Warn("bgp: withdrawing before the drain", "err", err)
	}
	c.log.Info("bgp: withdrew every VIP; draining before stopping", "drain", running.BGP.DrainTime)
	select {
	case <-time.After(running.BGP.DrainTime):
	case <-ctx.Done():
	}
	return c.cfg.BGP.Stop()
}

// bgpStatus is the report's BGP part (nil without BGP).
func (c *Controller) bgpStatus(running *model.NodeState) *status.BGP {
	if c.cfg.BGP == nil || running == nil || running.BGP == nil {
		return nil
	}
	sp := c.cfg.BGP.Status()
	out := &status.BGP{ASN: running.BGP.ASN, RouterID: running.BGP.RouterID}
	for _, p := range sp.Peers {
		// The same fields: a conversion, which stops compiling if they part.
		out.Peers = append(out.Peers, status.BGPPeer(p))
	}
	c.mu.Lock()
	reasons := c.bgp.groups
	c.mu.Unlock()
	for _, g := range running.BGP.Groups {
		sg := status.BGPGroup{Name: g.Name, VIPs: g.VIPs, MED: g.MED, Prepend: g.Prepend, Withdrawn: reasons[g.Name]}
		for _, p := range g.VIPs {
			if slices.ContainsFunc(sp.Announced, func(r bgp.Route) bool { return r.Prefix == p }) {
				sg.Announced = append(sg.Announced, p)
			}
		}
		out.Groups = append(out.Groups, sg)
	}
	return out
}

// bgpCollector exports the sessions and announcements.
type bgpCollector struct{ ctl *Controller }

var (
	descBGPSession = prometheus.NewDesc("hakeeper_bgp_session_established",
		"Whether the BGP session with a peer is established (1) or not (0).", []string{"peer"}, nil)
	descBGPBFD = prometheus.NewDesc("hakeeper_bgp_bfd_up",
		"Whether the BFD session with a peer is up (1) or not (0); absent without BFD.", []string{"peer"}, nil)
	descBGPAnnounced = prometheus.NewDesc("hakeeper_bgp_vip_announced",
		"Whether a bgp group's VIP is announced (1) or withdrawn (0); the status says why.", []string{"group", "vip"}, nil)
)

func (c bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBGPSession
	ch <- descBGPBFD
	ch <- descBGPAnnounced
}

func (c bgpCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.ctl.bgpStatus(c.ctl.Running())
	if b == nil {
		return
	}
	for _, p := range b.Peers {
		ch <- prometheus.MustNewConstMetric(descBGPSession, prometheus.GaugeValue, boolValue(p.State == "established"), p.Address.String())
		if p.BFD != "" {
			ch <- prometheus.MustNewConstMetric(descBGPBFD, prometheus.GaugeValue, boolValue(p.BFD == "up"), p.Address.String())
		}
	}
	for _, g := range b.Groups {
		for _, v := range g.VIPs {
			ch <- prometheus.MustNewConstMetric(descBGPAnnounced, prometheus.GaugeValue, boolValue(slices.Contains(g.Announced, v)), g.Name, v.Addr().String())
		}
	}
}

package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// Kinds of the BGP part's changes: the speaker's own settings (group
// "bgp"), its sessions and the groups it announces.
const (
	KindBGP      Kind = "bgp"
	KindBGPPeer  Kind = "bgp-peer"
	KindBGPGroup Kind = "bgp-group"
)

var bgpFields = []field[model.BGPState]{
	{"asn", func(a, b *model.BGPState) bool { return a.ASN == b.ASN }, func(v *model.BGPState) string { return itoa(v.ASN) }},
	{"routerID", func(a, b *model.BGPState) bool { return a.RouterID == b.RouterID }, func(v *model.BGPState) string { return addrStr(v.RouterID) }},
	{"drainTime", func(a, b *model.BGPState) bool { return a.DrainTime == b.DrainTime }, func(v *model.BGPState) string { return v.DrainTime.String() }},
	{"withdrawOnSourceLoss", func(a, b *model.BGPState) bool { return a.WithdrawOnSourceLoss == b.WithdrawOnSourceLoss }, func(v *model.BGPState) string { return boolStr(v.WithdrawOnSourceLoss) }},
}

var bgpPeerFields = []field[model.BGPPeerSpec]{
	{"asn", func(a, b *model.BGPPeerSpec) bool { return a.ASN == b.ASN }, func(v *model.BGPPeerSpec) string { return itoa(v.ASN) }},
	{"localAddress", func(a, b *model.BGPPeerSpec) bool { return a.LocalAddress == b.LocalAddress }, func(v *model.BGPPeerSpec) string { return addrStr(v.LocalAddress) }},
	{"passwordFile", func(a, b *model.BGPPeerSpec) bool { return a.PasswordFile == b.PasswordFile }, func(v *model.BGPPeerSpec) string { return v.PasswordFile }},
	{"holdTime", func(a, b *model.BGPPeerSpec) bool { return a.HoldTime == b.HoldTime }, func(v *model.BGPPeerSpec) string { return v.HoldTime.String() }},
	{"keepalive", func(a, b *model.BGPPeerSpec) bool { return a.Keepalive == b.Keepalive }, func(v *model.BGPPeerSpec) string { return v.Keepalive.String() }},
	{"bfd", func(a, b *model.BGPPeerSpec) bool {
		return a.BFDInterval == b.BFDInterval && a.BFDMultiplier == b.BFDMultiplier
	}, func(v *model.BGPPeerSpec) string { return BFD(v) }},
}

var bgpGroupFields = []field[model.BGPGroup]{
	{"vips", func(a, b *model.BGPGroup) bool { return slices.Equal(a.VIPs, b.VIPs) }, func(v *model.BGPGroup) string { return prefixList(v.VIPs) }},
	{"services", func(a, b *model.BGPGroup) bool { return slices.Equal(a.Services, b.Services) }, func(v *model.BGPGroup) string { return strings.Join(v.Services, ", ") }},
	{"trackChecks", func(a, b *model.BGPGroup) bool { return slices.Equal(a.TrackChecks, b.TrackChecks) }, func(v *model.BGPGroup) string { return strings.Join(v.TrackChecks, ", ") }},
	{"med", func(a, b *model.BGPGroup) bool { return a.MED == b.MED }, func(v *model.BGPGroup) string { return itoa(v.MED) }},
	{"prepend", func(a, b *model.BGPGroup) bool { return a.Prepend == b.Prepend }, func(v *model.BGPGroup) string { return itoa(v.Prepend) }},
}

// BFD shows a peer's BFD timers ("off" without BFD).
func BFD(p *model.BGPPeerSpec) string {
	if p.BFDInterval == 0 {
		return "off"
	}
	return fmt.Sprintf("%s x%d", p.BFDInterval, p.BFDMultiplier)
}

func prefixList(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

// bgpDiff lists the BGP part's changes against the daemon's (live nil:
// none runs, everything is new).
func bgpDiff(p *Plan, desired, live *model.BGPState) {
	one := func(s *model.BGPState) []model.BGPState {
		if s == nil {
			return nil
		}
		return []model.BGPState{*s}
	}
	from := len(p.Changes)
	namedDiff(p, KindBGP, bgpFields, func(*model.BGPState) string { return "bgp" }, one(desired), one(live))
	for i := range p.Changes[from:] {
		p.Changes[from+i].Group = p.Node // the speaker is the node's
	}
	var dp, lp []model.BGPPeerSpec
	var dg, lg []model.BGPGroup
	if desired != nil {
		dp, dg = desired.Peers, desired.Groups
	}
	if live != nil {
		lp, lg = live.Peers, live.Groups
	}
	namedDiff(p, KindBGPPeer, bgpPeerFields, func(s *model.BGPPeerSpec) string { return s.Address.String() }, dp, lp)
	namedDiff(p, KindBGPGroup, bgpGroupFields, func(g *model.BGPGroup) string { return g.Name }, dg, lg)
}

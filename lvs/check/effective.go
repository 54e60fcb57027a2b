package check

import (
	"cmp"
	"slices"

	"github.com/hakeeper/hakeeper/model"
)

// EffectiveRealServers returns the real servers IPVS should hold for svc
// given each server's health; it is pure, so the reconciler can call it
// whenever health or the description changes.
//
//   - A server without a check is always up; healthy is not asked about it.
//     A nil healthy treats every server as up.
//   - A failing server is left out, or kept with weight 0 when svc.Drain is
//     set, so its established connections finish (keepalived's
//     inhibit_on_failure).
//   - When the total weight of the up servers is below svc.Quorum and the
//     service has a sorry server, the sorry server replaces the set. With
//     Drain every real server stays at weight 0 beside it, for the same
//     reason. Without a sorry server the up servers are kept: fewer
//     servers beat none.
//
// The result is sorted by address, then port, like RealServers; a server
// that is also the sorry server appears once, as the sorry server.
func EffectiveRealServers(svc model.VirtualService, healthy func(model.RealServerSpec) bool) []model.RealServerSpec {
	up := func(rs model.RealServerSpec) bool {
		return rs.Check == nil || healthy == nil || healthy(rs)
	}
	out := make([]model.RealServerSpec, 0, len(svc.RealServers)+1)
	upWeight := 0
	for _, rs := range svc.RealServers {
		switch {
		case up(rs):
			upWeight += max(rs.Weight, 0)
			out = append(out, rs)
		case svc.Drain:
			rs.Weight = 0
			out = append(out, rs)
		}
	}
	if upWeight >= svc.Quorum || svc.SorryServer == nil {
		return out
	}
	sorry := *svc.SorryServer
	out = out[:0]
	out = append(out, sorry)
	if svc.Drain {
		for _, rs := range svc.RealServers {
			if rs.Address == sorry.Address && rs.Port == sorry.Port {
				continue
			}
			rs.Weight = 0
			out = append(out, rs)
		}
	}
	slices.SortFunc(out, func(a, b model.RealServerSpec) int {
		return cmp.Or(a.Address.Compare(b.Address), cmp.Compare(a.Port, b.Port))
	})
	return out
}

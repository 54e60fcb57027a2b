package lvs

import (
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// schedulerFlagBits maps the model's scheduler flags to IPVS service flags;
// sh and mh number their flags the same way (ipvsadm's sh-fallback and
// mh-fallback are SCHED1, sh-port and mh-port SCHED2).
var schedulerFlagBits = map[string]Flags{
	"sh-fallback": FlagSched1,
	"sh-port":     FlagSched2,
	"mh-fallback": FlagSched1,
	"mh-port":     FlagSched2,
}

// MaxWeight is the largest destination weight hakeeper programs: ipvsadm's
// limit, and the largest the netlink library reads back intact (it decodes
// weights as 16 bits), so a larger one would show as a change forever.
const MaxWeight = 65535

var forwardingOf = map[model.Forwarding]Forwarding{
	model.NAT:    ForwardNAT,
	model.DR:     ForwardDirect,
	model.Tunnel: ForwardTunnel,
}

var protocolOf = map[model.Protocol]Protocol{
	model.TCP:  ProtocolTCP,
	model.UDP:  ProtocolUDP,
	model.SCTP: ProtocolSCTP,
}

// FromModel converts a resolved virtual service to IPVS terms. Its
// RealServers must already be the effective ones (health applied, the
// sorry server substituted when the quorum is lost): choosing them is the
// caller's business, programming them is this package's. The model is
// validated upstream; values it would reject map to IPVS's own defaults
// (an unknown forwarding method to NAT), so the kernel reports them.
func FromModel(vs model.VirtualService) (Service, []Destination) {
	svc := Service{
		Family:    FamilyIPv4,
		Scheduler: vs.Scheduler,
	}
	if vs.Family == model.IPv6 {
		svc.Family = FamilyIPv6
	}
	if vs.FWMark != 0 {
		svc.FWMark = vs.FWMark
	} else {
		svc.Protocol = protocolOf[vs.Protocol]
		svc.Address = vs.Address
		svc.Port = vs.Port
	}
	for _, f := range vs.SchedulerFlags {
		svc.Flags |= schedulerFlagBits[f]
	}
	if vs.Persistence > 0 {
		svc.Flags |= FlagPersistent
		// IPVS counts whole seconds; round a fraction up so a short
		// persistence never becomes none.
		svc.Timeout = uint32((vs.Persistence + time.Second - 1) / time.Second)
	}
	if vs.PersistenceMask > 0 && vs.PersistenceMask <= int(svc.Family.bits()) {
		svc.Netmask = uint8(vs.PersistenceMask)
	}
	svc = svc.Normalize()

	fwd := forwardingOf[vs.Forwarding]
	dests := make([]Destination, 0, len(vs.RealServers))
	for _, rs := range vs.RealServers {
		port := rs.Port
		if port == 0 && vs.FWMark == 0 {
			// A real server without a port takes the service's, as in
			// keepalived and ipvsadm.
			port = vs.Port
		}
		weight := min(max(rs.Weight, 0), MaxWeight)
		dests = append(dests, Destination{
			Address:        rs.Address.Unmap(),
			Port:           port,
			Forwarding:     fwd,
			Weight:         uint32(weight),
			UpperThreshold: rs.UpperThreshold,
			LowerThreshold: rs.LowerThreshold,
		})
	}
	return svc, dests
}

// TableFromModel converts every service of a node's desired state.
func TableFromModel(services []model.VirtualService) []VirtualServer {
	table := make([]VirtualServer, 0, len(services))
	for _, vs := range services {
		svc, dests := FromModel(vs)
		table = append(table, VirtualServer{Name: vs.Name, Service: svc, Destinations: dests})
	}
	return table
}

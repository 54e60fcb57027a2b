package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// A real-server entry may name a node of the cluster (realServers:
// [{node: web1}]). With dr or tun forwarding that node is then a real
// server hakeeper sets up: the VIP as a host address on the loopback (dr)
// or the tunnel device (tun), so the node accepts the forwarded packets,
// and the ARP sysctls that stop it answering for the VIP on its links.

// Devices the VIP goes on, by forwarding method and family.
const (
	LoopbackDevice = "lo"
	TunnelDevice4  = "tunl0"
	TunnelDevice6  = "ip6tnl0"
)

// RealServerRole is what a node needs as a real server of the services
// naming it.
type RealServerRole struct {
	// VIPs are the host addresses to hold, sorted by address and device.
	VIPs []RealServerVIP `json:"vips"`
	// Sysctls are the kernel settings the VIPs need, sorted by name.
	Sysctls []Sysctl `json:"sysctls"`
	// NAT names the nat services the node serves: they need nothing on it.
	NAT []string `json:"nat,omitempty"`
}

// RealServerVIP is one VIP a real server holds and the services using it.
type RealServerVIP struct {
	Prefix   netip.Prefix `json:"prefix"`
	Device   string       `json:"device"`
	Services []string     `json:"services"`
}

// Sysctl is a kernel setting by its sysctl(8) name and the value wanted.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// realServerAddress is the address a real or sorry server entry stands
// for: its own, or that of the node it names in the service's family.
func (r *resolver) realServerAddress(rs *RealServer, fam Family) string {
	if n := r.c.Nodes[rs.Node]; rs.Node != "" && n != nil {
		if fam == IPv6 {
			return n.Address6
		}
		return n.Address
	}
	return rs.Address
}

// realServerRole collects the services whose real (or sorry) servers name
// this node; nil when none does.
func (r *resolver) realServerRole() *RealServerRole {
	var role *RealServerRole
	var arp, tun4 bool
	for _, name := range sortedKeys(r.c.Services) {
		s := r.c.Services[name]
		if s == nil || !slices.ContainsFunc(append(slices.Clip(s.RealServers), ptrSlice(s.SorryServer)...), func(rs RealServer) bool { return rs.Node == r.nodeName }) {
			continue
		}
		if role == nil {
			role = &RealServerRole{VIPs: []RealServerVIP{}, Sysctls: []Sysctl{}}
		}
		fwd := cmp.Or(s.Forwarding, r.svc.Forwarding, DefaultForwarding)
		if fwd == NAT {
			role.NAT = append(role.NAT, name)
			continue
		}
		for _, a := range r.serviceVIPs(s) {
			v := RealServerVIP{Prefix: netip.PrefixFrom(a, a.BitLen()), Device: LoopbackDevice, Services: []string{name}}
			switch {
			case fwd == Tunnel && a.Is4():
				v.Device, tun4 = TunnelDevice4, true
			case fwd == Tunnel:
				v.Device = TunnelDevice6
			}
			arp = arp || a.Is4()
			if i := slices.IndexFunc(role.VIPs, func(o RealServerVIP) bool { return o.Prefix == v.Prefix && o.Device == v.Device }); i >= 0 {
				role.VIPs[i].Services = append(role.VIPs[i].Services, name)
			} else {
				role.VIPs = append(role.VIPs, v)
			}
		}
	}
	if role == nil {
		return nil
	}
	slices.SortFunc(role.VIPs, func(a, b RealServerVIP) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Device, b.Device))
	})
	// ARP is IPv4 only; IPv6 neighbour discovery answers only for
	// addresses on the link a solicitation came in on (docs/operations.md).
	if arp {
		role.Sysctls = append(role.Sysctls, Sysctl{"net.ipv4.conf.all.arp_announce", "2"}, Sysctl{"net.ipv4.conf.all.arp_ignore", "1"})
	}
	if tun4 {
		role.Sysctls = append(role.Sysctls, Sysctl{"net.ipv4.conf." + TunnelDevice4 + ".rp_filter", "2"})
	}
	return role
}

// serviceVIPs are the addresses a service's packets are sent to: its VIP,
// or for a fwmark service the VIPs of its group (Validate checked that
// they are of the service's family).
func (r *resolver) serviceVIPs(s *Service) []netip.Addr {
	if a, err := netip.ParseAddr(s.VIP); err == nil {
		return []netip.Addr{a}
	}
	return r.v.groupAddr[s.Group]
}

// realServerAddress checks a real or sorry server's node and returns the
// address the entry stands for; false when it has none.
func (v *validator) realServerAddress(ip indexPath, rs *RealServer, fam Family) (string, bool) {
	if rs.Node == "" {
		return rs.Address, true
	}
	p := ip.String() + ".node"
	n := v.c.Nodes[rs.Node]
	switch {
	case rs.Address != "":
		v.errorf(p, "set either node or address, not both")
	case n == nil:
		v.errorf(p, "no node named %q%s", rs.Node, didYouMean(rs.Node, sortedKeys(v.c.Nodes)))
	case fam == IPv6 && n.Address6 == "":
		v.errorf(p, "node %q has no address6, which this IPv6 service needs", rs.Node)
	case fam == IPv6:
		return n.Address6, true
	default:
		return n.Address, true
	}
	return "", false
}

// realServerNodes checks what the node-naming real servers and the VIP
// group members need, once groups and services are known: a group member
// needs its interface; a dr or tun real server must not direct the same
// service, and a fwmark one needs a group whose VIPs it can hold.
func (v *validator) realServerNodes() {
	for name, g := range v.c.VIPGroups {
		if g == nil {
			continue
		}
		for _, m := range v.members(name, g) {
			if n := v.c.Nodes[m]; n != nil && n.Interface == "" {
				v.errorf("nodes."+m+".interface", "interface is required (the link VRRP runs on)")
			}
		}
	}
	var sd ServiceDefaults
	if v.c.Defaults != nil && v.c.Defaults.Service != nil {
		sd = *v.c.Defaults.Service
	}
	for _, name := range sortedKeys(v.c.Services) {
		s := v.c.Services[name]
		if s == nil {
			continue
		}
		if fwd := cmp.Or(s.Forwarding, sd.Forwarding, DefaultForwarding); fwd != DR && fwd != Tunnel {
			continue
		}
		group := s.Group
		if a, err := netip.ParseAddr(s.VIP); err == nil {
			group = v.vipOwner[a].group
		}
		var directors []string
		if g := v.c.VIPGroups[group]; g != nil {
			directors = v.members(group, g)
		}
		for i, rs := range append(slices.Clip(s.RealServers), ptrSlice(s.SorryServer)...) {
			if rs.Node == "" || v.c.Nodes[rs.Node] == nil {
				continue
			}
			p := fmt.Sprintf("services.%s.realServers[%d].node", name, i)
			if i == len(s.RealServers) {
				p = "services." + name + ".sorryServer.node"
			}
			switch {
			case s.VIP == "" && group == "":
				v.errorf(p, "a dr or tun fwmark service without a group is directed by every node, so node %q cannot be its real server; set group to the VIP group whose VIPs the marked packets go to", rs.Node)
			case slices.Contains(directors, rs.Node):
				v.errorf(p, "node %q directs this service (it is a member of VIP group %q) and cannot also be its dr or tun real server: as a backup director holding the VIP it would balance again what the master forwards to it (see docs/operations.md)", rs.Node, group)
			}
		}
	}
}

func ptrSlice[T any](p *T) []T {
	if p == nil {
		return nil
	}
	return []T{*p}
}

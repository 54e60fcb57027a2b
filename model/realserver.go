package model

import (
	"cmp"
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

// address is the address a real or sorry server entry stands for: its
// own, or that of the node it names in the service's family.
func (rs *RealServer) address(c *Cluster, fam Family) string {
	n := c.Nodes[rs.Node]
	switch {
	case rs.Node == "" || n == nil:
		return rs.Address
	case fam == IPv6:
		return n.Address6
	}
	return n.Address
}

// realServerRole collects the services whose real (or sorry) servers name
// this node; nil when none does.
func (r *resolver) realServerRole() *RealServerRole {
	var role *RealServerRole
	var arp, tun4 bool
	me := func(rs RealServer) bool { return rs.Node == r.nodeName }
	for _, name := range sortedKeys(r.c.Services) {
		s := r.c.Services[name]
		if s == nil || !slices.ContainsFunc(s.RealServers, me) && (s.SorryServer == nil || !me(*s.SorryServer)) {
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
		// A fwmark service's packets go to its group's VIPs (Validate
		// checked that they are of the service's family).
		vips := r.v.groupAddr[s.Group]
		if a, err := netip.ParseAddr(s.VIP); err == nil {
			vips = []netip.Addr{a}
		}
		for _, a := range vips {
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

// realServerNode checks a real or sorry server entry's node and returns
// the address the entry stands for; false when it has none. A dr or tun
// real server must not direct the same service, and a fwmark one needs a
// group whose VIPs it can hold. vip is zero for a fwmark service.
func (v *validator) realServerNode(ip indexPath, rs *RealServer, s *Service, fam Family, fwd Forwarding, vip netip.Addr) (string, bool) {
	if rs.Node == "" {
		return rs.Address, true
	}
	p := ip.String() + ".node" // only here: the path costs an allocation per server
	n := v.c.Nodes[rs.Node]
	group := cmp.Or(v.vipOwner[vip].group, s.Group)
	g := v.c.VIPGroups[group]
	routed := fwd == DR || fwd == Tunnel
	switch {
	case rs.Address != "":
		v.errorf(p, "set either node or address, not both")
	case n == nil:
		v.errorf(p, "no node named %q%s", rs.Node, didYouMean(rs.Node, sortedKeys(v.c.Nodes)))
	case fam == IPv6 && n.Address6 == "":
		v.errorf(p, "node %q has no address6, which this IPv6 service needs", rs.Node)
	case routed && s.VIP == "" && group == "":
		v.errorf(p, "a dr or tun fwmark service without a group is directed by every node, so node %q cannot be its real server; set group to the VIP group whose VIPs the marked packets go to", rs.Node)
	case routed && g != nil && slices.Contains(v.members(group, g), rs.Node):
		v.errorf(p, "node %q directs this service (it is a member of VIP group %q) and cannot also be its dr or tun real server: as a backup director holding the VIP it would balance again what the master forwards to it (see docs/operations.md)", rs.Node, group)
	default:
		return rs.address(v.c, fam), true
	}
	return "", false
}

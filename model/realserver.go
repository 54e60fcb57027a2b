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
	role := &RealServerRole{VIPs: []RealServerVIP{}, Sysctls: []Sysctl{}}
	found := false
	type vipKey struct {
		p   netip.Prefix
		dev string
	}
	services := map[vipKey][]string{}
	var arp, tun4 bool
	for _, name := range sortedKeys(r.c.Services) {
		s := r.c.Services[name]
		if s == nil || !servesNode(s, r.nodeName) {
			continue
		}
		found = true
		fwd := cmp.Or(s.Forwarding, r.svc.Forwarding, DefaultForwarding)
		if fwd == NAT {
			role.NAT = append(role.NAT, name)
			continue
		}
		for _, a := range r.serviceVIPs(s) {
			dev := LoopbackDevice
			switch {
			case fwd == Tunnel && a.Is4():
				dev, tun4 = TunnelDevice4, true
			case fwd == Tunnel:
				dev = TunnelDevice6
			}
			arp = arp || a.Is4()
			k := vipKey{netip.PrefixFrom(a, a.BitLen()), dev}
			services[k] = append(services[k], name)
		}
	}
	if !found {
		return nil
	}
	for k, names := range services {
		role.VIPs = append(role.VIPs, RealServerVIP{Prefix: k.p, Device: k.dev, Services: names})
	}
	slices.SortFunc(role.VIPs, func(a, b RealServerVIP) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Device, b.Device))
	})
	// ARP is IPv4 only; IPv6 neighbour discovery answers only for
	// addresses on the link the solicitation came in on (see
	// docs/operations.md), so IPv6 VIPs need no setting.
	if arp {
		role.Sysctls = append(role.Sysctls,
			Sysctl{"net.ipv4.conf.all.arp_announce", "2"},
			Sysctl{"net.ipv4.conf.all.arp_ignore", "1"})
	}
	if tun4 {
		role.Sysctls = append(role.Sysctls, Sysctl{"net.ipv4.conf." + TunnelDevice4 + ".rp_filter", "2"})
	}
	return role
}

func servesNode(s *Service, node string) bool {
	all := append(slices.Clip(s.RealServers), ptrSlice(s.SorryServer)...)
	return slices.ContainsFunc(all, func(rs RealServer) bool { return rs.Node == node })
}

// serviceVIPs are the addresses a service's packets are sent to: its VIP,
// or for a fwmark service the VIPs of its group in its family.
func (r *resolver) serviceVIPs(s *Service) []netip.Addr {
	if a, err := netip.ParseAddr(s.VIP); err == nil {
		return []netip.Addr{a}
	}
	var out []netip.Addr
	if g := r.c.VIPGroups[s.Group]; g != nil {
		for _, v := range g.VIPs {
			if p, err := parseVIP(v.Address); err == nil && familyOf(p.Addr()) == cmp.Or(s.Family, IPv4) {
				out = append(out, p.Addr())
			}
		}
	}
	return out
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
	member := map[string]bool{}
	for _, name := range sortedKeys(v.c.VIPGroups) {
		if g := v.c.VIPGroups[name]; g != nil {
			for _, n := range v.members(name, g) {
				member[n] = true
			}
		}
	}
	for _, name := range sortedKeys(v.c.Nodes) {
		if n := v.c.Nodes[name]; member[name] && n != nil && n.Interface == "" {
			v.errorf("nodes."+name+".interface", "interface is required (the link VRRP runs on)")
		}
	}
	var sd ServiceDefaults
	if v.c.Defaults != nil && v.c.Defaults.Service != nil {
		sd = *v.c.Defaults.Service
	}
	for _, name := range sortedKeys(v.c.Services) {
		s := v.c.Services[name]
		fwd := Forwarding("")
		if s != nil {
			fwd = cmp.Or(s.Forwarding, sd.Forwarding, DefaultForwarding)
		}
		if fwd != DR && fwd != Tunnel {
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
				v.errorf(p, "a %s fwmark service without a group is directed by every node, so node %q cannot be its real server; set group to the VIP group whose VIPs the marked packets go to", fwd, rs.Node)
			case slices.Contains(directors, rs.Node):
				v.errorf(p, "node %q directs this service (it is a member of VIP group %q) and cannot also be its %s real server: holding the VIP on a local device, as backup it would answer for the VIP and as master deliver the service to itself (see docs/operations.md)", rs.Node, group, fwd)
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

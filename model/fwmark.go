package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"gopkg.in/yaml.v3"
)

// MarkMatch is traffic a fwmark service marks: packets of Protocol to
// Address (a VIP of the service's group) on one of Ports.
type MarkMatch struct {
	Protocol Protocol   `yaml:"protocol" json:"protocol"`
	Address  string     `yaml:"address" json:"address"`
	Ports    PortRanges `yaml:"ports" json:"ports"`
}

// MarkRule is a resolved MarkMatch, with its ports sorted and merged.
type MarkRule struct {
	Protocol Protocol    `json:"protocol"`
	Address  netip.Addr  `json:"address"`
	Ports    StatusCodes `json:"ports"`
}

// PortRange is an inclusive range of ports, written like an HTTP check's
// status ranges: 21 or 10000-10100.
type PortRange StatusRange

// PortRanges are ports and port ranges in one list: [21, 10000-10100].
type PortRanges []PortRange

// UnmarshalYAML accepts a port (an integer) or a "LO-HI" string.
func (r *PortRange) UnmarshalYAML(n *yaml.Node) error {
	if err := leadingZero(n); err != nil {
		return err
	}
	if t := n.ShortTag(); n.Kind == yaml.ScalarNode && (t == "!!int" || t == "!!str") {
		if v, err := ParseStatusRange(n.Value); err == nil {
			*r = PortRange(v)
			return nil
		}
	}
	return fmt.Errorf("want a port (21) or a range of ports (10000-10100), got %s", describe(n))
}

func (r PortRange) String() string { return StatusRange(r).String() }

// codes views the ranges as StatusCodes, which sort, merge and print alike.
func (p PortRanges) codes() StatusCodes {
	c := make(StatusCodes, len(p))
	for i, r := range p {
		c[i] = StatusRange(r)
	}
	return c
}

func (p PortRanges) MarshalYAML() (any, error) { return p.codes().MarshalYAML() }

// resolveMatch resolves a fwmark service's match list (Validate checked it).
func resolveMatch(ms []MarkMatch) []MarkRule {
	var out []MarkRule
	for _, m := range ms {
		a, _ := netip.ParseAddr(m.Address)
		out = append(out, MarkRule{m.Protocol, a, m.Ports.codes().Normalize()})
	}
	return out
}

// markMatch checks a service's match list; fam is the service's family.
func (v *validator) markMatch(p string, s *Service, fam Family) {
	if len(s.Match) > 0 && s.FWMark == 0 {
		v.errorf(p+".match", "only a fwmark service has match: a VIP service selects its packets by vip, port and protocol")
		return
	}
	for i, m := range s.Match {
		mp := fmt.Sprintf("%s.match[%d]", p, i)
		switch m.Protocol {
		case TCP, UDP, SCTP:
		case "":
			v.errorf(mp, "protocol is required: tcp, udp or sctp")
		default:
			v.errorf(mp+".protocol", "unknown protocol %q: want tcp, udp or sctp%s", m.Protocol, didYouMean(string(m.Protocol), []string{"tcp", "udp", "sctp"}))
		}
		if a, msg := parseHost(m.Address); msg != "" {
			v.errorf(mp+".address", "%s", msg)
		} else if owner, ok := v.vipOwner[a]; !ok {
			v.errorf(mp+".address", "%s is not a VIP of any group: hakeeper marks only traffic to VIPs", a)
		} else if s.Group != "" && owner.group != s.Group {
			v.errorf(mp+".address", "%s is a VIP of group %q, not of the service's group %q", a, owner.group, s.Group)
		} else if familyOf(a) != fam && fam != "" {
			v.errorf(mp+".address", "%s is %s but the service is %s", a, familyOf(a), fam)
		}
		if len(m.Ports) == 0 {
			v.errorf(mp+".ports", "ports are required: write e.g. [21, 10000-10100]")
		}
		for j, r := range m.Ports {
			switch pp := fmt.Sprintf("%s.ports[%d]", mp, j); {
			case r.First > r.Last:
				v.errorf(pp, "port range %s is backwards: write %d-%d", r, r.Last, r.First)
			case r.First < 1 || r.Last > 65535:
				v.errorf(pp, "port %s is out of range 1-65535", r)
			}
		}
	}
}

// markOverlaps reports traffic two match entries mark, or that a match
// entry takes from a VIP service: a packet gets one mark, and IPVS looks
// up a marked packet's fwmark service before any VIP service.
func (v *validator) markOverlaps(sd *ServiceDefaults) {
	type entry struct {
		path, service string
		proto         Protocol
		addr          netip.Addr
		r             PortRange
		seq           int // order seen: the earliest overlap is the one named
	}
	type key struct {
		proto Protocol
		addr  netip.Addr
	}
	// Only an overlap with a match rule counts (two plain services on one
	// address and port are validate's duplicate check): the entries of
	// fwmark services are few and searched whole, plain ones are indexed
	// by protocol and address, so 10,000 plain services cost no more
	// than one lookup each.
	var marked []entry
	plain := map[key][]entry{}
	seq := 0
	for _, name := range sortedKeys(v.c.Services) {
		s := v.c.Services[name]
		if s == nil {
			continue
		}
		p := "services." + name
		var mine []entry
		if a, err := netip.ParseAddr(s.VIP); err == nil && s.FWMark == 0 {
			mine = append(mine, entry{p, name, cmp.Or(s.Protocol, sd.Protocol, DefaultProtocol), a, PortRange{s.Port, s.Port}, 0})
		}
		for i, m := range s.Match {
			a, err := netip.ParseAddr(m.Address)
			for j, r := range m.Ports {
				if err == nil {
					mine = append(mine, entry{fmt.Sprintf("%s.match[%d].ports[%d]", p, i, j), name, m.Protocol, a, r, 0})
				}
			}
		}
		for _, e := range mine {
			overlaps := func(o entry) bool {
				return o.proto == e.proto && o.addr == e.addr && e.r.First <= o.r.Last && o.r.First <= e.r.Last
			}
			var first *entry
			candidates := marked
			if len(s.Match) > 0 {
				candidates = append(slices.Clip(marked), plain[key{e.proto, e.addr}]...)
			}
			for i := range candidates {
				if overlaps(candidates[i]) && (first == nil || candidates[i].seq < first.seq) {
					first = &candidates[i]
				}
			}
			if first != nil {
				v.errorf(e.path, "%s %s port %s is also selected by service %q (at %s): a packet can go to one service only", e.proto, e.addr, e.r, first.service, v.where(first.path))
			}
		}
		for _, e := range mine {
			e.seq, seq = seq, seq+1
			if s.FWMark != 0 {
				marked = append(marked, e)
			} else {
				plain[key{e.proto, e.addr}] = append(plain[key{e.proto, e.addr}], e)
			}
		}
	}
}

// markWarning warns about a fwmark service without match: its packets
// are marked only by rules set outside hakeeper.
func (v *validator) markWarning(name string, s *Service) {
	if s != nil && s.FWMark != 0 && len(s.Match) == 0 {
		v.errorf("services."+name+".fwmark", "no match: hakeeper does not mark this service's packets, so firewall rules outside hakeeper must set mark %d (or declare match)", s.FWMark)
	}
}

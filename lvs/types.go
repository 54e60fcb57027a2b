// Package lvs programs IPVS virtual services and their destinations (real
// servers) from a node's desired state by minimal diff. It owns the IPVS
// types hakeeper compares (Service, Destination, with identity keys and
// normalization), the kernel-boundary interface IPVS, the diff producing an
// ordered list of operations, their application, and the record of which
// services hakeeper owns. The kernel implementation is lvs/ipvskernel, an
// in-memory fake is lvs/lvstest; health checks live in lvs/check.
package lvs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Family is an address family as IPVS numbers it (AF_INET, AF_INET6).
type Family uint16

const (
	FamilyIPv4 Family = 2  // AF_INET
	FamilyIPv6 Family = 10 // AF_INET6
)

var familyNames = map[Family]string{FamilyIPv4: "ipv4", FamilyIPv6: "ipv6"}

func (f Family) String() string { return name(familyNames, f, "af") }

// bits is the address length of the family.
func (f Family) bits() uint8 {
	if f == FamilyIPv6 {
		return 128
	}
	return 32
}

// Protocol is an IP protocol number; zero for fwmark services.
type Protocol uint16

const (
	ProtocolTCP  Protocol = 6
	ProtocolUDP  Protocol = 17
	ProtocolSCTP Protocol = 132
)

var protocolNames = map[Protocol]string{ProtocolTCP: "tcp", ProtocolUDP: "udp", ProtocolSCTP: "sctp"}

func (p Protocol) String() string {
	if p == 0 {
		return "" // a fwmark service's
	}
	return name(protocolNames, p, "proto")
}

// Flags are IPVS service flags (IP_VS_SVC_F_*).
type Flags uint32

const (
	FlagPersistent Flags = 0x0001
	// FlagHashed is kernel bookkeeping, set on every service it holds;
	// Normalize strips it.
	FlagHashed    Flags = 0x0002
	FlagOnePacket Flags = 0x0004
	// Scheduler flags; their meaning depends on the scheduler
	// (sh and mh: SCHED1 = fallback, SCHED2 = port).
	FlagSched1 Flags = 0x0008
	FlagSched2 Flags = 0x0010
	FlagSched3 Flags = 0x0020
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagPersistent, "persistent"}, {FlagHashed, "hashed"}, {FlagOnePacket, "ops"},
	{FlagSched1, "sched1"}, {FlagSched2, "sched2"}, {FlagSched3, "sched3"},
}

func (f Flags) String() string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(f)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Forwarding is a destination's forwarding method (IP_VS_CONN_F_* & 7).
type Forwarding uint32

const (
	ForwardNAT       Forwarding = 0 // masquerading
	ForwardLocal     Forwarding = 1 // local node
	ForwardTunnel    Forwarding = 2 // IP-in-IP
	ForwardDirect    Forwarding = 3 // direct routing
	forwardingMask   Forwarding = 7
	forwardingBypass Forwarding = 4
)

var forwardingNames = map[Forwarding]string{
	ForwardNAT: "nat", ForwardLocal: "local", ForwardTunnel: "tun", ForwardDirect: "dr", forwardingBypass: "bypass",
}

func (f Forwarding) String() string { return name(forwardingNames, f, "fwd") }

// name is v's name in names, else prefix and v's number ("proto50").
func name[T ~uint16 | ~uint32](names map[T]string, v T, prefix string) string {
	if n, ok := names[v]; ok {
		return n
	}
	return prefix + strconv.FormatUint(uint64(v), 10)
}

// named is the value called s in names.
func named[T comparable](names map[T]string, s string) (T, bool) {
	for v, n := range names {
		if n == s {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Service is an IPVS virtual service.
type Service struct {
	Family Family
	// Protocol, Address and Port identify a service unless FWMark is set;
	// a fwmark service has them zero.
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32

	Scheduler string
	Flags     Flags
	// Timeout is the persistence timeout in seconds.
	Timeout uint32
	// Netmask is the persistence granularity as a prefix length (32 or
	// 128 for per-client persistence; 0 normalizes to that).
	Netmask uint8
}

// ServiceKey is a service's identity in IPVS: protocol, address and port,
// or fwmark, each within a family. It is comparable and usable as a map key.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	FWMark   uint32
}

// Key returns the service's identity.
func (s Service) Key() ServiceKey {
	if s.FWMark != 0 {
		return ServiceKey{Family: s.Family, FWMark: s.FWMark}
	}
	return ServiceKey{Family: s.Family, Protocol: s.Protocol, Address: s.Address, Port: s.Port}
}

// String writes the key as "tcp/192.0.2.10:80", "udp/[2001:db8::1]:53" or
// "fwmark/ipv4/7"; ParseServiceKey reads it back.
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return "fwmark/" + k.Family.String() + "/" + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return k.Protocol.String() + "/" + netip.AddrPortFrom(k.Address, k.Port).String()
}

// ParseServiceKey reads a key written by ServiceKey.String.
func ParseServiceKey(s string) (ServiceKey, error) {
	kind, rest, ok := strings.Cut(s, "/")
	if !ok {
		return ServiceKey{}, fmt.Errorf("service key %q: want proto/addr:port or fwmark/family/mark", s)
	}
	if kind == "fwmark" {
		fam, mark, ok := strings.Cut(rest, "/")
		if !ok {
			return ServiceKey{}, fmt.Errorf("service key %q: want fwmark/family/mark", s)
		}
		family, ok := named(familyNames, fam)
		if !ok {
			return ServiceKey{}, fmt.Errorf("service key %q: family %q is not ipv4 or ipv6", s, fam)
		}
		m, err := strconv.ParseUint(mark, 10, 32)
		if err != nil || m == 0 {
			return ServiceKey{}, fmt.Errorf("service key %q: fwmark %q is not a number from 1 to 4294967295", s, mark)
		}
		return ServiceKey{Family: family, FWMark: uint32(m)}, nil
	}
	proto, ok := named(protocolNames, kind)
	if !ok {
		number, isNumber := strings.CutPrefix(kind, "proto")
		n, err := strconv.ParseUint(number, 10, 16)
		if err != nil || !isNumber {
			return ServiceKey{}, fmt.Errorf("service key %q: unknown protocol %q", s, kind)
		}
		proto = Protocol(n)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return ServiceKey{}, fmt.Errorf("service key %q: %v", s, err)
	}
	fam := FamilyIPv4
	if ap.Addr().Is6() {
		fam = FamilyIPv6
	}
	return ServiceKey{Family: fam, Protocol: proto, Address: ap.Addr(), Port: ap.Port()}, nil
}

// Normalize returns the service as the kernel reports it after it was
// created from s, so a service read back compares Equal to the one that
// was written: the hashed flag is dropped, an unset netmask becomes the
// full prefix, a fwmark service has no protocol, address or port, and an
// IPv4 address is never 4-in-6.
func (s Service) Normalize() Service {
	s.Flags &^= FlagHashed
	if s.Netmask == 0 || s.Netmask > s.Family.bits() {
		s.Netmask = s.Family.bits()
	}
	if s.FWMark != 0 {
		s.Protocol, s.Address, s.Port = 0, netip.Addr{}, 0
	} else if s.Address.Is4In6() && s.Family == FamilyIPv4 {
		s.Address = s.Address.Unmap()
	}
	return s
}

// Equal reports whether two services are the same after normalization.
func (s Service) Equal(o Service) bool {
	return s.Normalize() == o.Normalize()
}

func (s Service) String() string {
	str := s.Key().String() + " " + s.Scheduler
	if f := s.Flags &^ FlagHashed; f != 0 {
		str += " flags=" + f.String()
	}
	if s.Flags&FlagPersistent != 0 {
		str += fmt.Sprintf(" persistent=%ds/%d", s.Timeout, s.Normalize().Netmask)
	}
	return str
}

// Destination is a real server of a virtual service.
type Destination struct {
	Address    netip.Addr
	Port       uint16
	Forwarding Forwarding
	Weight     uint32
	// UpperThreshold and LowerThreshold bound active connections; 0 is
	// no limit.
	UpperThreshold uint32
	LowerThreshold uint32
}

// DestinationKey is a destination's identity within its service.
type DestinationKey struct {
	Address netip.Addr
	Port    uint16
}

// Key returns the destination's identity within its service.
func (d Destination) Key() DestinationKey {
	return DestinationKey{Address: d.Address, Port: d.Port}
}

func (k DestinationKey) String() string {
	return netip.AddrPortFrom(k.Address, k.Port).String()
}

// Normalize keeps only the forwarding method bits (the kernel reports
// nothing else) and unmaps a 4-in-6 address.
func (d Destination) Normalize() Destination {
	d.Forwarding &= forwardingMask
	if d.Address.Is4In6() {
		d.Address = d.Address.Unmap()
	}
	return d
}

// Equal reports whether two destinations are the same after normalization.
func (d Destination) Equal(o Destination) bool {
	return d.Normalize() == o.Normalize()
}

func (d Destination) String() string {
	s := fmt.Sprintf("%s %s weight %d", d.Key(), d.Forwarding, d.Weight)
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(" thresholds %d-%d", d.LowerThreshold, d.UpperThreshold)
	}
	return s
}

// VirtualServer is a service with its destinations: one entry of a table.
type VirtualServer struct {
	// Name labels the service in errors and plans (the model's service
	// name); it is not part of the kernel state.
	Name         string
	Service      Service
	Destinations []Destination
}

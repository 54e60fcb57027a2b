package ipvskernel

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"

	"github.com/moby/ipvs"

	"github.com/hakeeper/hakeeper/lvs"
)

var _ lvs.IPVS = (*Kernel)(nil)

// Kernel is one network namespace's IPVS table.
type Kernel struct {
	h *ipvs.Handle
}

// New opens the IPVS table of the network namespace at nsPath ("" for the
// current one). The ip_vs module must be loaded before the first New in
// the process: the library looks the IPVS netlink family up only once.
func New(nsPath string) (*Kernel, error) {
	h, err := ipvs.New(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open IPVS in %q: %w", nsPath, err)
	}
	k := &Kernel{h: h}
	// Fail here, clearly, rather than on the first write.
	if _, err := h.GetServices(); err != nil {
		h.Close()
		return nil, fmt.Errorf("IPVS unavailable (is the ip_vs module loaded?): %w", err)
	}
	return k, nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() { k.h.Close() }

// Services lists the namespace's virtual services, normalized.
func (k *Kernel) Services() ([]lvs.Service, error) {
	raw, err := k.h.GetServices()
	if err != nil {
		return nil, err
	}
	out := make([]lvs.Service, 0, len(raw))
	for _, s := range raw {
		svc, err := fromKernelService(s)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, nil
}

// Destinations lists svc's destinations, normalized.
func (k *Kernel) Destinations(svc lvs.Service) ([]lvs.Destination, error) {
	raw, err := k.h.GetDestinations(toKernelService(svc))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Key(), err)
	}
	out := make([]lvs.Destination, 0, len(raw))
	for _, d := range raw {
		dst, err := fromKernelDestination(d)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Key(), err)
		}
		out = append(out, dst)
	}
	return out, nil
}

func (k *Kernel) AddService(svc lvs.Service) error {
	return wrap(k.h.NewService(toKernelService(svc)), "add service", svc.Key())
}

func (k *Kernel) UpdateService(svc lvs.Service) error {
	return wrap(k.h.UpdateService(toKernelService(svc)), "update service", svc.Key())
}

func (k *Kernel) DeleteService(svc lvs.Service) error {
	return wrap(k.h.DelService(toKernelService(svc)), "delete service", svc.Key())
}

func (k *Kernel) AddDestination(svc lvs.Service, dst lvs.Destination) error {
	return wrapDest(k.h.NewDestination(toKernelService(svc), toKernelDestination(dst)), "add", svc, dst)
}

func (k *Kernel) UpdateDestination(svc lvs.Service, dst lvs.Destination) error {
	return wrapDest(k.h.UpdateDestination(toKernelService(svc), toKernelDestination(dst)), "update", svc, dst)
}

func (k *Kernel) DeleteDestination(svc lvs.Service, dst lvs.Destination) error {
	return wrapDest(k.h.DelDestination(toKernelService(svc), toKernelDestination(dst)), "delete", svc, dst)
}

func wrap(err error, what string, k lvs.ServiceKey) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, k, err)
	}
	return nil
}

func wrapDest(err error, what string, svc lvs.Service, dst lvs.Destination) error {
	if err != nil {
		return fmt.Errorf("%s destination %s of %s: %w", what, dst.Key(), svc.Key(), err)
	}
	return nil
}

func toKernelService(s lvs.Service) *ipvs.Service {
	s = s.Normalize()
	k := &ipvs.Service{
		AddressFamily: uint16(s.Family),
		FWMark:        s.FWMark,
		SchedName:     s.Scheduler,
		Flags:         uint32(s.Flags),
		Timeout:       s.Timeout,
		Netmask:       netmaskToKernel(s.Family, s.Netmask),
	}
	if s.FWMark == 0 {
		k.Protocol = uint16(s.Protocol)
		k.Address = net.IP(s.Address.AsSlice())
		k.Port = s.Port
	}
	return k
}

func fromKernelService(k *ipvs.Service) (lvs.Service, error) {
	s := lvs.Service{
		Family:    lvs.Family(k.AddressFamily),
		Protocol:  lvs.Protocol(k.Protocol),
		Port:      k.Port,
		FWMark:    k.FWMark,
		Scheduler: k.SchedName,
		Flags:     lvs.Flags(k.Flags),
		Timeout:   k.Timeout,
		Netmask:   netmaskFromKernel(lvs.Family(k.AddressFamily), k.Netmask),
	}
	if k.FWMark == 0 {
		a, ok := netip.AddrFromSlice(k.Address)
		if !ok {
			return lvs.Service{}, fmt.Errorf("IPVS service with address %v of %d bytes", k.Address, len(k.Address))
		}
		s.Address = a
	}
	return s.Normalize(), nil
}

// netmaskToKernel encodes a persistence prefix length the way the kernel
// takes it: for IPv4 a mask in network byte order (the netlink library
// writes the value in host order, so the bytes are laid out here), for
// IPv6 the prefix length itself.
func netmaskToKernel(f lvs.Family, plen uint8) uint32 {
	if f == lvs.FamilyIPv6 {
		return uint32(plen)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-uint32(plen))) // a shift by 32 is 0
	return binary.NativeEndian.Uint32(b[:])
}

// netmaskFromKernel is the inverse of netmaskToKernel. A non-contiguous
// IPv4 mask (which only another tool could set) reads as its leading ones.
func netmaskFromKernel(f lvs.Family, v uint32) uint8 {
	if f == lvs.FamilyIPv6 {
		return uint8(min(v, 128))
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return uint8(bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:])))
}

func toKernelDestination(d lvs.Destination) *ipvs.Destination {
	d = d.Normalize()
	family := uint16(lvs.FamilyIPv4)
	if d.Address.Is6() {
		family = uint16(lvs.FamilyIPv6)
	}
	return &ipvs.Destination{
		Address:         net.IP(d.Address.AsSlice()),
		Port:            d.Port,
		Weight:          int(d.Weight),
		ConnectionFlags: uint32(d.Forwarding),
		AddressFamily:   family,
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
	}
}

func fromKernelDestination(k *ipvs.Destination) (lvs.Destination, error) {
	a, ok := netip.AddrFromSlice(k.Address)
	if !ok {
		return lvs.Destination{}, fmt.Errorf("IPVS destination with address %v of %d bytes", k.Address, len(k.Address))
	}
	d := lvs.Destination{
		Address:        a,
		Port:           k.Port,
		Forwarding:     lvs.Forwarding(k.ConnectionFlags),
		Weight:         uint32(max(k.Weight, 0)),
		UpperThreshold: k.UpperThreshold,
		LowerThreshold: k.LowerThreshold,
	}
	return d.Normalize(), nil
}

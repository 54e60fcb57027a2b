package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"github.com/hakeeper/hakeeper/vrrpd"
)

var allNodes = netip.MustParseAddr("ff02::1")

// Announcer sends gratuitous ARPs and unsolicited neighbour
// advertisements. It keeps one socket per interface and family, reopened
// when the interface is recreated (new index).
type Announcer struct {
	mu   sync.Mutex
	arps map[string]*arpClient
	ndps map[string]*ndpClient
}

type arpClient struct {
	ifi *net.Interface
	c   *arp.Client
}

type ndpClient struct {
	ifi *net.Interface
	c   *ndp.Conn
}

var _ vrrpd.Announcer = (*Announcer)(nil)

// NewAnnouncer returns an Announcer with no sockets open yet.
func NewAnnouncer() *Announcer {
	return &Announcer{arps: map[string]*arpClient{}, ndps: map[string]*ndpClient{}}
}

// Announce sends one announcement per address on device: a gratuitous
// ARP request (sender = target = VIP, to broadcast) for IPv4, an
// unsolicited neighbour advertisement from the VIP to ff02::1 with
// Override set and the target link-layer address for IPv6. The VIPs must
// already be on the device.
func (a *Announcer) Announce(device string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ifi, err := net.InterfaceByName(device)
	if err != nil {
		return fmt.Errorf("announce on %s: %w", device, err)
	}
	var errs []error
	for _, ip := range addrs {
		if ip.Is4() || ip.Is4In6() {
			errs = append(errs, a.garp(ifi, ip.Unmap()))
		} else {
			errs = append(errs, a.unsolicitedNA(ifi, ip))
		}
	}
	return errors.Join(errs...)
}

func sameIface(a, b *net.Interface) bool {
	return a.Index == b.Index && a.HardwareAddr.String() == b.HardwareAddr.String()
}

func (a *Announcer) garp(ifi *net.Interface, ip netip.Addr) error {
	cl := a.arps[ifi.Name]
	if cl == nil || !sameIface(cl.ifi, ifi) {
		if cl != nil {
			cl.c.Close()
			delete(a.arps, ifi.Name)
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return fmt.Errorf("gratuitous ARP on %s: %w", ifi.Name, err)
		}
		cl = &arpClient{ifi: ifi, c: c}
		a.arps[ifi.Name] = cl
	}
	p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", ip, err)
	}
	if err := cl.c.WriteTo(p, ethernet.Broadcast); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, ifi.Name, err)
	}
	return nil
}

func (a *Announcer) unsolicitedNA(ifi *net.Interface, ip netip.Addr) error {
	cl := a.ndps[ifi.Name]
	if cl == nil || !sameIface(cl.ifi, ifi) {
		if cl != nil {
			cl.c.Close()
			delete(a.ndps, ifi.Name)
		}
		// Unspecified: bound to no address, so one socket serves every VIP;
		// each message picks its source with IPV6_PKTINFO.
		c, _, err := ndp.Listen(ifi, ndp.Unspecified)
		if err != nil {
			return fmt.Errorf("neighbour advertisement on %s: %w", ifi.Name, err)
		}
		// We only send: block every ICMPv6 type so nothing queues up.
		var f ipv6.ICMPFilter
		f.SetAll(true)
		if err := c.SetICMPFilter(&f); err != nil {
			c.Close()
			return fmt.Errorf("neighbour advertisement on %s: %w", ifi.Name, err)
		}
		cl = &ndpClient{ifi: ifi, c: c}
		a.ndps[ifi.Name] = cl
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      ifi.HardwareAddr,
		}},
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: ifi.Index}
	if err := cl.c.WriteTo(na, cm, allNodes); err != nil {
		return fmt.Errorf("neighbour advertisement for %s on %s: %w", ip, ifi.Name, err)
	}
	return nil
}

// Close closes every socket.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.arps {
		c.c.Close()
		delete(a.arps, k)
	}
	for k, c := range a.ndps {
		c.c.Close()
		delete(a.ndps, k)
	}
	return nil
}

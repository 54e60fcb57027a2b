package kernel

import (
	"bytes"
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
// advertisements. It keeps each interface's sockets from one
// announcement to the next, because closing a packet socket waits for
// the kernel far longer than a send takes. Every announcement looks the
// interface up by name and reopens the sockets when it was recreated
// (new index) or its MAC changed.
type Announcer struct {
	mu     sync.Mutex
	ifaces map[string]*announceIface
}

type announceIface struct {
	ifi *net.Interface
	arp *arp.Client
	ndp *ndp.Conn
}

func (ai *announceIface) close() {
	if ai.arp != nil {
		ai.arp.Close()
	}
	if ai.ndp != nil {
		ai.ndp.Close()
	}
}

var _ vrrpd.Announcer = (*Announcer)(nil)

// NewAnnouncer returns an Announcer with no sockets open yet.
func NewAnnouncer() *Announcer {
	return &Announcer{ifaces: map[string]*announceIface{}}
}

// iface returns device's entry with the interface as it is now; sockets
// opened for another index or MAC are closed, and a device that cannot
// be looked up is dropped, the error naming it.
func (a *Announcer) iface(device string) (*announceIface, error) {
	ifi, err := net.InterfaceByName(device)
	ai := a.ifaces[device]
	if ai != nil && (err != nil || ifi.Index != ai.ifi.Index || !bytes.Equal(ifi.HardwareAddr, ai.ifi.HardwareAddr)) {
		ai.close()
		delete(a.ifaces, device)
		ai = nil
	}
	if err != nil {
		return nil, fmt.Errorf("announce on %s: %w", device, err)
	}
	if ai == nil {
		ai = &announceIface{}
		a.ifaces[device] = ai
	}
	ai.ifi = ifi
	return ai, nil
}

// Announce sends one announcement per address on device: a gratuitous
// ARP request (sender = target = VIP, to broadcast) for IPv4, an
// unsolicited neighbour advertisement from the VIP to ff02::1 with
// Override set and the target link-layer address for IPv6. The VIPs must
// already be on the device.
func (a *Announcer) Announce(device string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ai, err := a.iface(device)
	if err != nil {
		return err
	}
	var errs []error
	for _, ip := range addrs {
		if ip.Is4() || ip.Is4In6() {
			errs = append(errs, ai.garp(ip.Unmap()))
		} else {
			errs = append(errs, ai.unsolicitedNA(ip))
		}
	}
	return errors.Join(errs...)
}

func (ai *announceIface) garp(ip netip.Addr) error {
	if ai.arp == nil {
		c, err := arp.Dial(ai.ifi)
		if err != nil {
			return fmt.Errorf("gratuitous ARP on %s: %w", ai.ifi.Name, err)
		}
		ai.arp = c
	}
	p, err := arp.NewPacket(arp.OperationRequest, ai.ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", ip, err)
	}
	if err := ai.arp.WriteTo(p, ethernet.Broadcast); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, ai.ifi.Name, err)
	}
	return nil
}

func (ai *announceIface) unsolicitedNA(ip netip.Addr) error {
	ifi := ai.ifi
	if ai.ndp == nil {
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
		ai.ndp = c
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
	if err := ai.ndp.WriteTo(na, cm, allNodes); err != nil {
		return fmt.Errorf("neighbour advertisement for %s on %s: %w", ip, ifi.Name, err)
	}
	return nil
}

// Close closes every socket.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, ai := range a.ifaces {
		ai.close()
		delete(a.ifaces, k)
	}
	return nil
}

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

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

var allNodes = netip.MustParseAddr("ff02::1")

// Announcer sends gratuitous ARPs and unsolicited neighbour
// advertisements. It keeps, per interface, the interface's index and MAC
// and one socket per family, so an announcement is one write: Prepare
// sets them up when an instance starts, and a link change (LinkChanged)
// or a failed write makes the next use look the interface up again,
// reopening the sockets if it was recreated (new index) or its MAC
// changed.
type Announcer struct {
	mu     sync.Mutex
	ifaces map[string]*announceIface
}

type announceIface struct {
	ifi *net.Interface
	// stale: a link changed since ifi was read; check before use.
	stale bool
	arp   *arp.Client
	ndp   *ndp.Conn
}

func (ai *announceIface) close() {
	if ai.arp != nil {
		ai.arp.Close()
	}
	if ai.ndp != nil {
		ai.ndp.Close()
	}
}

var (
	_ vrrpd.Announcer    = (*Announcer)(nil)
	_ vrrpd.Preparer     = (*Announcer)(nil)
	_ vrrpd.LinkObserver = (*Announcer)(nil)
)

// NewAnnouncer returns an Announcer with no sockets open yet.
func NewAnnouncer() *Announcer {
	return &Announcer{ifaces: map[string]*announceIface{}}
}

// Prepare looks up the VIPs' interfaces and opens the sockets their
// families need.
func (a *Announcer) Prepare(vips []model.VIPSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, v := range vips {
		ai, err := a.iface(v.Device)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ip := v.Prefix.Addr(); ip.Is4() || ip.Is4In6() {
			_, err = ai.arpClient()
		} else {
			_, err = ai.ndpConn()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LinkChanged makes the next use of every interface check its index and
// MAC: a rename reports the new name only.
func (a *Announcer) LinkChanged(string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ai := range a.ifaces {
		ai.stale = true
	}
}

// iface returns device's entry, looked up now if new or stale; sockets
// survive the check when the index and MAC did not change. A device
// that cannot be looked up is dropped, and the error names it.
func (a *Announcer) iface(device string) (*announceIface, error) {
	ai := a.ifaces[device]
	if ai != nil && !ai.stale {
		return ai, nil
	}
	ifi, err := net.InterfaceByName(device)
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
	ai.ifi, ai.stale = ifi, false
	return ai, nil
}

// Announce sends one announcement per address on device: a gratuitous
// ARP request (sender = target = VIP, to broadcast) for IPv4, an
// unsolicited neighbour advertisement from the VIP to ff02::1 with
// Override set and the target link-layer address for IPv6. The VIPs must
// already be on the device. A failed send is retried once after looking
// the interface up again, in case it was recreated before the link
// change was reported.
func (a *Announcer) Announce(device string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ai, err := a.iface(device)
	if err != nil {
		return err
	}
	var errs []error
	for _, ip := range addrs {
		err := ai.announce(ip)
		if err != nil {
			ai.stale = true
			if ai, err = a.iface(device); err != nil {
				errs = append(errs, err)
				break
			}
			err = ai.announce(ip)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (ai *announceIface) announce(ip netip.Addr) error {
	if ip.Is4() || ip.Is4In6() {
		return ai.garp(ip.Unmap())
	}
	return ai.unsolicitedNA(ip)
}

func (ai *announceIface) arpClient() (*arp.Client, error) {
	if ai.arp == nil {
		c, err := arp.Dial(ai.ifi)
		if err != nil {
			return nil, fmt.Errorf("gratuitous ARP on %s: %w", ai.ifi.Name, err)
		}
		ai.arp = c
	}
	return ai.arp, nil
}

func (ai *announceIface) garp(ip netip.Addr) error {
	c, err := ai.arpClient()
	if err != nil {
		return err
	}
	p, err := arp.NewPacket(arp.OperationRequest, ai.ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", ip, err)
	}
	if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", ip, ai.ifi.Name, err)
	}
	return nil
}

func (ai *announceIface) ndpConn() (*ndp.Conn, error) {
	if ai.ndp == nil {
		// Unspecified: bound to no address, so one socket serves every VIP;
		// each message picks its source with IPV6_PKTINFO.
		c, _, err := ndp.Listen(ai.ifi, ndp.Unspecified)
		if err != nil {
			return nil, fmt.Errorf("neighbour advertisement on %s: %w", ai.ifi.Name, err)
		}
		// We only send: block every ICMPv6 type so nothing queues up.
		var f ipv6.ICMPFilter
		f.SetAll(true)
		if err := c.SetICMPFilter(&f); err != nil {
			c.Close()
			return nil, fmt.Errorf("neighbour advertisement on %s: %w", ai.ifi.Name, err)
		}
		ai.ndp = c
	}
	return ai.ndp, nil
}

func (ai *announceIface) unsolicitedNA(ip netip.Addr) error {
	c, err := ai.ndpConn()
	if err != nil {
		return err
	}
	ifi := ai.ifi
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      ifi.HardwareAddr,
		}},
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: ifi.Index}
	if err := c.WriteTo(na, cm, allNodes); err != nil {
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

package netns

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// ARPAnswered asks the segment from node n who has target, then who has
// own (an address of the node under test, which always answers), and
// reports whether a reply for target from mac came before the reply for
// own. Both requests take the same path, so the second reply is the
// evidence that the first request was handled: no waiting for a reply
// that does not come.
func (n *Node) ARPAnswered(target, own netip.Addr, mac net.HardwareAddr) (bool, error) {
	var c *arp.Client
	err := inNamespace(n.Name, func() error {
		ifi, err := net.InterfaceByName(n.Iface)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := c.Request(target); err != nil {
		return false, err
	}
	if err := c.Request(own); err != nil {
		return false, err
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return false, err
	}
	answered := false
	for {
		p, _, err := c.Read()
		if err != nil {
			return false, fmt.Errorf("no ARP reply for %s: %w", own, err)
		}
		if p.Operation != arp.OperationReply || p.SenderHardwareAddr.String() != mac.String() {
			continue
		}
		switch p.SenderIP {
		case target:
			answered = true
		case own:
			return answered, nil
		}
	}
}

// NDAnswered is ARPAnswered for IPv6: neighbour solicitations for target,
// to its solicited-node group and unicast through mac (as a router
// checking a cached entry sends them), then for own; it reports whether
// an advertisement for target came before the one for own.
func (n *Node) NDAnswered(target, own netip.Addr, mac net.HardwareAddr) (bool, error) {
	// The unicast solicitation needs a route and a neighbour entry for
	// target pointing at mac.
	if err := netlab.IP("-n", n.Name, "-6", "route", "replace", target.String()+"/128", "dev", n.Iface); err != nil {
		return false, err
	}
	if err := netlab.IP("-n", n.Name, "-6", "neigh", "replace", target.String(), "lladdr", mac.String(), "dev", n.Iface, "nud", "permanent"); err != nil {
		return false, err
	}
	var c *ndp.Conn
	var ifi *net.Interface
	err := inNamespace(n.Name, func() error {
		var err error
		if ifi, err = net.InterfaceByName(n.Iface); err != nil {
			return err
		}
		c, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		return err
	})
	if err != nil {
		return false, err
	}
	defer c.Close()
	solicit := func(a, dst netip.Addr) error {
		m := &ndp.NeighborSolicitation{TargetAddress: a, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}}}
		return c.WriteTo(m, nil, dst)
	}
	group := func(a netip.Addr) netip.Addr {
		g, err := ndp.SolicitedNodeMulticast(a)
		if err != nil {
			panic(err) // a is a unicast IPv6 address
		}
		return g
	}
	// Sent from the namespace: a zone (%eth0) is resolved to an interface
	// index in the sender's namespace.
	err = inNamespace(n.Name, func() error {
		for _, s := range [][2]netip.Addr{{target, group(target)}, {target, target}, {own, group(own)}} {
			if err := solicit(s[0], s[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return false, err
	}
	answered := false
	for {
		m, _, _, err := c.ReadFrom()
		if err != nil {
			return false, fmt.Errorf("no neighbour advertisement for %s: %w", own, err)
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok {
			continue
		}
		switch na.TargetAddress {
		case target:
			answered = true
		case own:
			return answered, nil
		}
	}
}

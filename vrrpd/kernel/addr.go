package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// Addresses manages VIPs through rtnetlink. Every request looks its
// device up by name, so a device deleted and created again, or renamed,
// is always the one the name means now.
type Addresses struct {
	h *netlink.Handle
}

var _ vrrpd.Addresses = (*Addresses)(nil)

// NewAddresses opens an rtnetlink handle in the current namespace.
func NewAddresses() (*Addresses, error) {
	h, err := newHandle()
	if err != nil {
		return nil, err
	}
	return &Addresses{h: h}, nil
}

// Close releases the handle.
func (a *Addresses) Close() { a.h.Close() }

func (a *Addresses) link(device string) (netlink.Link, error) {
	l, err := a.h.LinkByName(device)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", device, err)
	}
	return l, nil
}

// List returns the device's addresses except link-local ones, which no
// VIP ever is and which the kernel adds by itself.
func (a *Addresses) List(device string) ([]netip.Prefix, error) {
	link, err := a.link(device)
	if err != nil {
		return nil, err
	}
	all, err := a.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %s: list addresses: %w", device, err)
	}
	var out []netip.Prefix
	for _, ad := range all {
		if p, ok := prefixOf(ad); ok && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p)
		}
	}
	return out, nil
}

func nlAddr(vip model.VIPSpec) (*netlink.Addr, error) {
	if !vip.Prefix.IsValid() {
		return nil, fmt.Errorf("VIP on %s: invalid prefix", vip.Device)
	}
	addr := vip.Prefix.Addr()
	nl := &netlink.Addr{IPNet: &net.IPNet{
		IP:   addr.AsSlice(),
		Mask: net.CIDRMask(vip.Prefix.Bits(), addr.BitLen()),
	}}
	if addr.Is4() {
		nl.Label = vip.Label
	} else {
		// A VIP must answer at once; a tentative address (DAD) cannot be
		// used as a source nor answered for about a second.
		nl.Flags = unix.IFA_F_NODAD
	}
	return nl, nil
}

// change runs op, the library's AddrReplace, AddrAdd or AddrDel, for vip
// on its device; verb names the change in its error.
func (a *Addresses) change(verb string, vip model.VIPSpec, op func(netlink.Link, *netlink.Addr) error) error {
	nl, err := nlAddr(vip)
	if err != nil {
		return err
	}
	link, err := a.link(vip.Device)
	if err == nil {
		err = op(link, nl)
	}
	if err != nil {
		return fmt.Errorf("%s VIP %s on %s: %w", verb, vip.Prefix, vip.Device, err)
	}
	return nil
}

// Add adds the VIP; adding a present address is not an error.
func (a *Addresses) Add(vip model.VIPSpec) error { return a.change("add", vip, a.h.AddrReplace) }

// AddNew adds the VIP unless its address is on the device already (the
// kernel refuses it with EEXIST); it reports whether it added it.
func (a *Addresses) AddNew(vip model.VIPSpec) (bool, error) {
	err := a.change("add", vip, a.h.AddrAdd)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes the VIP; deleting an absent address, or one on a device
// that no longer exists, is not an error.
func (a *Addresses) Delete(vip model.VIPSpec) error {
	err := a.change("delete", vip, a.h.AddrDel)
	if isLinkNotFound(err) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

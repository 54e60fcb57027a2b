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

// Addresses manages VIPs through rtnetlink.
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

// NewAddressesWith uses an existing handle (e.g. one from NewHandleAt).
func NewAddressesWith(h *netlink.Handle) *Addresses { return &Addresses{h: h} }

// Close releases the netlink handle.
func (a *Addresses) Close() { a.h.Close() }

// List returns the device's addresses except link-local ones, which no
// VIP ever is and which the kernel adds by itself.
func (a *Addresses) List(device string) ([]netip.Prefix, error) {
	link, err := a.h.LinkByName(device)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", device, err)
	}
	list, err := a.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %s: list addresses: %w", device, err)
	}
	var out []netip.Prefix
	for _, ad := range list {
		p, ok := prefixOf(ad)
		if !ok || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (a *Addresses) nlAddr(vip model.VIPSpec) (netlink.Link, *netlink.Addr, error) {
	if !vip.Prefix.IsValid() {
		return nil, nil, fmt.Errorf("VIP on %s: invalid prefix", vip.Device)
	}
	link, err := a.h.LinkByName(vip.Device)
	if err != nil {
		return nil, nil, fmt.Errorf("VIP %s: interface %s: %w", vip.Prefix, vip.Device, err)
	}
	addr := vip.Prefix.Addr()
	bits := 32
	if addr.Is6() {
		bits = 128
	}
	nl := &netlink.Addr{IPNet: &net.IPNet{
		IP:   addr.AsSlice(),
		Mask: net.CIDRMask(vip.Prefix.Bits(), bits),
	}}
	if addr.Is4() {
		nl.Label = vip.Label
	} else {
		// A VIP must answer at once; a tentative address (DAD) cannot be
		// used as a source nor answered for about a second.
		nl.Flags = unix.IFA_F_NODAD
	}
	return link, nl, nil
}

// Add adds the VIP; adding a present address is not an error.
func (a *Addresses) Add(vip model.VIPSpec) error {
	link, nl, err := a.nlAddr(vip)
	if err != nil {
		return err
	}
	if err := a.h.AddrReplace(link, nl); err != nil {
		return fmt.Errorf("add VIP %s on %s: %w", vip.Prefix, vip.Device, err)
	}
	return nil
}

// Delete removes the VIP; deleting an absent address, or one on a device
// that no longer exists, is not an error.
func (a *Addresses) Delete(vip model.VIPSpec) error {
	link, nl, err := a.nlAddr(vip)
	if err != nil {
		if isLinkNotFound(err) {
			return nil
		}
		return err
	}
	if err := a.h.AddrDel(link, nl); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("delete VIP %s on %s: %w", vip.Prefix, vip.Device, err)
	}
	return nil
}

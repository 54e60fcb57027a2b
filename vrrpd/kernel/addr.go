package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// Addresses manages VIPs through rtnetlink. It remembers each device's
// interface index, so adding or listing on a known device is one
// round trip (a new master's path) instead of two. A cached index is
// dropped when the engine reports a link change (LinkChanged), and a
// request the kernel refuses with "no such device" is retried once with
// a fresh lookup, in case the device was recreated before the event came.
type Addresses struct {
	h *netlink.Handle

	mu      sync.Mutex
	indexes map[string]int
}

var (
	_ vrrpd.Addresses    = (*Addresses)(nil)
	_ vrrpd.LinkObserver = (*Addresses)(nil)
	_ vrrpd.Preparer     = (*Addresses)(nil)
)

// NewAddresses opens an rtnetlink handle in the current namespace.
func NewAddresses() (*Addresses, error) {
	h, err := newHandle()
	if err != nil {
		return nil, err
	}
	return &Addresses{h: h, indexes: map[string]int{}}, nil
}

// Close releases the handle.
func (a *Addresses) Close() { a.h.Close() }

// Prepare looks the VIPs' device indexes up ahead of the first Add.
func (a *Addresses) Prepare(vips []model.VIPSpec) error {
	var errs []error
	for _, v := range vips {
		if _, _, err := a.link(v.Device, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LinkChanged forgets every cached index: a rename gives the new name
// only, so the entry of the old one cannot be found by name.
func (a *Addresses) LinkChanged(string) {
	a.mu.Lock()
	clear(a.indexes)
	a.mu.Unlock()
}

// link returns a Link carrying the device's name and index, and whether
// the index came from the cache; fresh (or a device not cached yet)
// looks it up.
func (a *Addresses) link(device string, fresh bool) (link netlink.Link, cached bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	idx, cached := a.indexes[device]
	if !cached || fresh {
		l, err := a.h.LinkByName(device)
		if err != nil {
			delete(a.indexes, device)
			return nil, false, fmt.Errorf("interface %s: %w", device, err)
		}
		idx, cached = l.Attrs().Index, false
		a.indexes[device] = idx
	}
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: device, Index: idx}}, cached, nil
}

// withLink runs op on the device's link, once more with a fresh lookup
// when a cached index turns out to name no device.
func (a *Addresses) withLink(device string, op func(netlink.Link) error) error {
	link, cached, err := a.link(device, false)
	if err != nil {
		return err
	}
	err = op(link)
	if cached && errors.Is(err, unix.ENODEV) {
		if link, _, err = a.link(device, true); err != nil {
			return err
		}
		err = op(link)
	}
	return err
}

// List returns the device's addresses except link-local ones, which no
// VIP ever is and which the kernel adds by itself. One dump of every
// address: a stale cached index would just match nothing, so when
// nothing matches the index is looked up again before the answer is
// believed (an interface carrying VRRP always has addresses).
func (a *Addresses) List(device string) ([]netip.Prefix, error) {
	link, _, err := a.link(device, false)
	if err != nil {
		return nil, err
	}
	all, err := a.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %s: list addresses: %w", device, err)
	}
	out, found := addrsOf(all, link.Attrs().Index)
	if !found {
		if link, _, err = a.link(device, true); err != nil {
			return nil, err
		}
		out, _ = addrsOf(all, link.Attrs().Index)
	}
	return out, nil
}

// addrsOf returns index's addresses in list but link-local ones, and
// whether list had any address of index at all.
func addrsOf(list []netlink.Addr, index int) (out []netip.Prefix, found bool) {
	for _, ad := range list {
		if ad.LinkIndex != index {
			continue
		}
		found = true
		p, ok := prefixOf(ad)
		if !ok || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, p)
	}
	return out, found
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
	err = a.withLink(vip.Device, func(link netlink.Link) error { return op(link, nl) })
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

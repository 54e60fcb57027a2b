package kernel

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// newHandle opens an rtnetlink handle in the current namespace. Only
// NETLINK_ROUTE: the library's default also opens NETLINK_XFRM, which
// fails on kernels without xfrm_user.
func newHandle() (*netlink.Handle, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return h, nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok || a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// primaryAddr returns the interface's first address of the family that
// is neither secondary nor tentative; for IPv6 the link-local one.
func primaryAddr(ifname string, v6 bool) (netip.Addr, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(link, fam)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: list addresses: %w", ifname, err)
	}
	for _, a := range list {
		p, ok := prefixOf(a)
		if !ok || a.Flags&(unix.IFA_F_SECONDARY|unix.IFA_F_TENTATIVE) != 0 {
			continue
		}
		if v6 && !p.Addr().IsLinkLocalUnicast() {
			continue
		}
		return p.Addr(), nil
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("interface %s has no usable IPv6 link-local address", ifname)
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", ifname)
}

package realserver

import (
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the Kernel of the calling thread's network namespace:
// addresses and links through netlink, sysctls through /proc/sys (which
// shows the namespace of the thread that opens it).
type Netlink struct{}

func (Netlink) Addrs(device string) ([]netip.Prefix, bool, error) {
	l, err := netlink.LinkByName(device)
	if err != nil {
		return nil, false, err
	}
	list, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, false, err
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, l.Attrs().Flags&net.FlagUp != 0, nil
}

func (Netlink) AddAddr(device string, p netip.Prefix) error {
	return addrOp(device, p, netlink.AddrAdd)
}

func (Netlink) DelAddr(device string, p netip.Prefix) error {
	return addrOp(device, p, netlink.AddrDel)
}

func addrOp(device string, p netip.Prefix, op func(netlink.Link, *netlink.Addr) error) error {
	l, err := netlink.LinkByName(device)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD // a host address on a device without neighbours
	}
	return op(l, a)
}

func (Netlink) SetUp(device string, up bool) error {
	l, err := netlink.LinkByName(device)
	if err != nil {
		return err
	}
	if up {
		return netlink.LinkSetUp(l)
	}
	return netlink.LinkSetDown(l)
}

func (Netlink) Sysctl(name string) (string, error) {
	b, err := os.ReadFile(sysctlPath(name))
	return strings.TrimSpace(string(b)), err
}

func (Netlink) SetSysctl(name, value string) error {
	return os.WriteFile(sysctlPath(name), []byte(value), 0)
}

// sysctlPath is /proc/sys/net/ipv4/conf/all/arp_ignore for
// net.ipv4.conf.all.arp_ignore (hakeeper's names hold no dotted devices).
func sysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

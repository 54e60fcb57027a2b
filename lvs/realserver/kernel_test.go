package realserver_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	vnetns "github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netns"
)

// inNS runs fn on a thread of its own switched into namespace ns: the
// Netlink kernel and /proc/sys then act on that namespace, never the
// host's. The thread is never switched back: it ends with its goroutine.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := vnetns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := vnetns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func arpAnswers(t *testing.T, client, rs *netns.Node, vip netip.Addr) bool {
	t.Helper()
	answered, err := client.ARPAnswered(vip, rs.Addr.Addr(), rs.MAC)
	if err != nil {
		t.Fatal(err)
	}
	return answered
}

func sysctlIn(t *testing.T, n *netns.Node, name string) string {
	t.Helper()
	return strings.TrimSpace(n.MustExec(t, "cat", "/proc/sys/"+strings.ReplaceAll(name, ".", "/")))
}

func hostSysctls(t *testing.T) string {
	var b strings.Builder
	for _, name := range []string{arpIgnore, arpAnnounce} {
		v, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(v)
	}
	return b.String()
}

// TestNetlinkDR programs a dr real server in a namespace of a lab segment
// and watches a client on the segment: before, the node answers ARP for
// a VIP on its lo; with the role it does not, drift is repaired, and
// removal takes back what it added and restores the sysctls.
func TestNetlinkDR(t *testing.T) {
	lab := netns.New(t, 2)
	client, rs := lab.Node(1), lab.Node(2)
	host := hostSysctls(t)
	vip := vip4.Addr()
	// The kernel's defaults, whatever a new namespace inherits here.
	rs.MustExec(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore && echo 0 > /proc/sys/net/ipv4/conf/all/arp_announce")

	// Without the sysctls a VIP on lo is answered for on eth0: the reason
	// for the role.
	rs.MustExec(t, "ip", "addr", "add", vip4.String(), "dev", "lo")
	if !arpAnswers(t, client, rs, vip) {
		t.Fatal("control: the node does not answer ARP for a VIP on lo even without the sysctls")
	}
	rs.MustExec(t, "ip", "addr", "del", vip4.String(), "dev", "lo")

	p := &realserver.Programmer{Kernel: realserver.Netlink{}, StatePath: filepath.Join(t.TempDir(), "realserver-owned.json")}
	do := func(role *model.RealServerRole, want ...string) {
		t.Helper()
		var pl realserver.Plan
		var done int
		err := inNS(rs.Name, func() error {
			var err error
			pl, done, err = p.Sync(role)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := opStrings(pl.Ops); !slices.Equal(got, want) || done != len(want) {
			t.Fatalf("ops (%d done):\n got %q\nwant %q", done, got, want)
		}
	}
	var planned realserver.Plan
	if err := inNS(rs.Name, func() (err error) { planned, err = p.Plan(drRole()); return err }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2",
		"set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1",
		"add-address 192.0.2.10/32 on lo",
		"add-address 2001:db8::10/128 on lo",
	}
	if got := opStrings(planned.Ops); !slices.Equal(got, want) {
		t.Fatalf("plan:\n got %q\nwant %q", got, want)
	}
	do(drRole(), want...)
	checkLo(t, rs, true, vip4, vip6)
	if a, b := sysctlIn(t, rs, arpIgnore), sysctlIn(t, rs, arpAnnounce); a != "1" || b != "2" {
		t.Fatalf("arp_ignore %s, arp_announce %s", a, b)
	}
	if arpAnswers(t, client, rs, vip) {
		t.Fatal("the real server answers ARP for the VIP on its lo")
	}
	// IPv6 needs no sysctl: neighbour discovery answers only for addresses
	// of the link a solicitation came in on.
	if answered, err := client.NDAnswered(vip6.Addr(), rs.Addr6.Addr(), rs.MAC); err != nil || answered {
		t.Fatalf("neighbour advertisement for the VIP on lo: %v, %v", answered, err)
	}
	// Control: on the link itself the VIP is answered for.
	rs.MustExec(t, "ip", "addr", "add", vip6.String(), "dev", rs.Iface, "nodad")
	if answered, err := client.NDAnswered(vip6.Addr(), rs.Addr6.Addr(), rs.MAC); err != nil || !answered {
		t.Fatalf("control: no neighbour advertisement for a VIP on %s: %v", rs.Iface, err)
	}
	rs.MustExec(t, "ip", "addr", "del", vip6.String(), "dev", rs.Iface)
	do(drRole())

	// Drift by hand: the VIP removed, arp_ignore reset.
	rs.MustExec(t, "ip", "addr", "del", vip4.String(), "dev", "lo")
	rs.MustExec(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore")
	do(drRole(), "set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1", "add-address 192.0.2.10/32 on lo")
	checkLo(t, rs, true, vip4)

	// An address the operator put on lo is used and survives removal.
	handMade := netip.MustParsePrefix("198.51.100.7/32")
	rs.MustExec(t, "ip", "addr", "add", handMade.String(), "dev", "lo")
	role := drRole()
	role.VIPs = append(role.VIPs, model.RealServerVIP{Prefix: handMade, Device: "lo"})
	do(role)
	do(nil,
		"delete-address 192.0.2.10/32 on lo",
		"delete-address 2001:db8::10/128 on lo",
		"restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0",
		"restore-sysctl net.ipv4.conf.all.arp_ignore 1 -> 0")
	checkLo(t, rs, false, vip4, vip6)
	checkLo(t, rs, true, handMade)
	if a, b := sysctlIn(t, rs, arpIgnore), sysctlIn(t, rs, arpAnnounce); a != "0" || b != "0" {
		t.Fatalf("not restored: arp_ignore %s, arp_announce %s", a, b)
	}
	if got := hostSysctls(t); got != host {
		t.Fatalf("the host's sysctls changed: %q, was %q", got, host)
	}
}

func checkLo(t *testing.T, n *netns.Node, present bool, prefixes ...netip.Prefix) {
	t.Helper()
	have, err := n.Addrs("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if slices.Contains(have, p) != present {
			t.Fatalf("%s on lo: want present=%v, lo has %v", p, present, have)
		}
	}
}

// TestNetlinkMissingDevice: a tunnel device that does not exist is an
// error naming the module to load, and nothing is written.
func TestNetlinkMissingDevice(t *testing.T) {
	lab := netns.New(t, 1)
	rs := lab.Node(1)
	if _, err := rs.Exec("ip", "link", "show", "ip6tnl0"); err == nil {
		t.Skip("ip6_tunnel is loaded on this host: every namespace has ip6tnl0")
	}
	p := &realserver.Programmer{Kernel: realserver.Netlink{}, StatePath: filepath.Join(t.TempDir(), "realserver-owned.json")}
	role := &model.RealServerRole{VIPs: []model.RealServerVIP{{Prefix: vip6, Device: "ip6tnl0"}}}
	err := inNS(rs.Name, func() error { _, _, err := p.Sync(role); return err })
	if err == nil || !strings.Contains(err.Error(), "modprobe ip6_tunnel") {
		t.Fatalf("got %v", err)
	}
	if _, serr := os.Stat(p.StatePath); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("a failed plan wrote the record: %v", serr)
	}
}

//go:build vmtest

package realserver_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	vnetns "github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
)

var errNoTunnels = errors.New("no tunl0: this kernel has no ipip module")

// TestNetlinkTunnelVM programs a tun real server in a fresh namespace of
// the VM, whose kernel has the ipip and ip6_tunnel modules (every
// namespace gets a tunl0 and an ip6tnl0, down): run with
// go test -tags vmtest -exec $PWD/test/vm/run -run VM ./lvs/realserver
func TestNetlinkTunnelVM(t *testing.T) {
	state := filepath.Join(t.TempDir(), "realserver-owned.json")
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, in the
		// namespace it created.
		runtime.LockOSThread()
		ns, err := vnetns.New()
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		errc <- tunnelRole(t, state)
	}()
	err := <-errc
	if errors.Is(err, errNoTunnels) && os.Getenv("HAKEEPER_IN_VM") != "1" {
		t.Skip("run in the VM: go test -tags vmtest -exec $PWD/test/vm/run -run VM ./lvs/realserver")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// tunnelRole runs on the namespace's thread; it reports with t.Errorf
// and returns an error to stop.
func tunnelRole(t *testing.T, state string) error {
	k := realserver.Netlink{}
	if _, _, err := k.Addrs("tunl0"); err != nil {
		return errNoTunnels
	}
	rp, err := k.Sysctl(rpFilter)
	if err != nil {
		return err
	}
	role := &model.RealServerRole{
		VIPs: []model.RealServerVIP{
			{Prefix: tun4, Device: "tunl0", Services: []string{"t4"}},
			{Prefix: vip6, Device: "ip6tnl0", Services: []string{"t6"}},
		},
		Sysctls: []model.Sysctl{{Name: arpAnnounce, Value: "2"}, {Name: arpIgnore, Value: "1"}, {Name: rpFilter, Value: "2"}},
	}
	p := &realserver.Programmer{Kernel: k, StatePath: state}
	expect := func(role *model.RealServerRole, want ...string) error {
		pl, done, err := p.Sync(role)
		if err != nil {
			return err
		}
		if got := opStrings(pl.Ops); !slices.Equal(got, want) || done != len(want) {
			t.Errorf("ops (%d done):\n got %q\nwant %q", done, got, want)
			return errors.New("unexpected operations")
		}
		return nil
	}
	if err := expect(role,
		"set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2",
		"set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1",
		"set-sysctl net.ipv4.conf.tunl0.rp_filter "+rp+" -> 2",
		"link-up tunl0",
		"add-address 192.0.2.11/32 on tunl0",
		"link-up ip6tnl0",
		"add-address 2001:db8::10/128 on ip6tnl0"); err != nil {
		return err
	}
	for dev, p := range map[string]string{"tunl0": tun4.String(), "ip6tnl0": vip6.String()} {
		addrs, up, err := k.Addrs(dev)
		if err != nil || !up || !slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return a.String() == p }) {
			t.Errorf("%s: up %v, addresses %v, %v; want up with %s", dev, up, addrs, err, p)
		}
	}
	if v, _ := k.Sysctl(rpFilter); v != "2" {
		t.Errorf("rp_filter %s", v)
	}
	if err := expect(role); err != nil {
		return err
	}
	if err := expect(nil,
		"delete-address 192.0.2.11/32 on tunl0",
		"delete-address 2001:db8::10/128 on ip6tnl0",
		"link-down tunl0",
		"link-down ip6tnl0",
		"restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0",
		"restore-sysctl net.ipv4.conf.all.arp_ignore 1 -> 0",
		"restore-sysctl net.ipv4.conf.tunl0.rp_filter 2 -> "+rp); err != nil {
		return err
	}
	for _, dev := range []string{"tunl0", "ip6tnl0"} {
		if addrs, up, err := k.Addrs(dev); err != nil || up || slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return a == tun4 || a == vip6 }) {
			t.Errorf("%s after removal: up %v, addresses %v, %v", dev, up, addrs, err)
		}
	}
	return nil
}

package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

func encode(t *testing.T, a *packet.Advert, src, dst netip.Addr) []byte {
	t.Helper()
	b, err := packet.Encode(a, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConnMulticast sends adverts from one node's Conn and checks the
// frame on the bridge (addresses, TOS, TTL, DF, protocol, payload) and
// what the other node's Conn reports (source, destination, TTL, bytes).
func TestConnMulticast(t *testing.T) {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	for _, tc := range []struct {
		desc      string
		family    model.Family
		src, dst  netip.Addr
		dstMAC    string
		vip       netip.Addr
		wantLocal netip.Addr
	}{
		{"ipv4", model.IPv4, n1.Addr.Addr(), packet.Group4, "01:00:5e:00:00:12", netip.MustParseAddr("10.99.0.100"), n1.Addr.Addr()},
		{"ipv6", model.IPv6, n1.LinkLocal, packet.Group6, "33:33:00:00:00:12", netip.MustParseAddr("2001:db8:99::100"), n1.LinkLocal},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			payload := encode(t, &packet.Advert{Version: 3, VRID: 51, Priority: 150,
				Interval: time.Second, Addrs: []netip.Addr{tc.vip}}, tc.src, tc.dst)
			recv := startHelper(t, n2, "recv", string(tc.family))
			if err := recv.WaitOutput("READY", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			send := startHelper(t, n1, "send", string(tc.family), "-", tc.dst.String(), hex.EncodeToString(payload), "3")
			if code, err := send.Wait(10 * time.Second); err != nil || code != 0 {
				t.Fatalf("sender: %d %v\n%s", code, err, send.Output())
			}
			if !strings.Contains(send.Output(), "LOCAL "+tc.wantLocal.String()) {
				t.Errorf("sender LocalAddr: got %q, want %s", send.Output(), tc.wantLocal)
			}
			f, err := capture.Wait(start, func(f *netns.Frame) bool { return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC) }, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.Dst.String() != tc.dstMAC || f.IPSrc != tc.src || f.IPDst != tc.dst {
				t.Errorf("frame %s %s -> %s %s, want %s -> %s %s", f.Src, f.IPSrc, f.Dst, f.IPDst, tc.src, tc.dstMAC, tc.dst)
			}
			if f.TTL != 255 || f.TOS != 0xc0 || f.DF {
				t.Errorf("TTL %d TOS %#x DF %v, want 255 0xc0 false", f.TTL, f.TOS, f.DF)
			}
			if !bytes.Equal(f.Payload, payload) {
				t.Errorf("payload on the wire\n%x, sent\n%x", f.Payload, payload)
			}
			// The decoder accepts what went over the wire, checksum included.
			if _, err := packet.Decode(f.Payload, f.IPSrc, f.IPDst); err != nil {
				t.Errorf("decode captured advert: %v", err)
			}
			// stamped: the kernel's receive time came with it, and before the read.
			want := fmt.Sprintf("RECV %s %s 255 %x stamped", tc.src, tc.dst, payload)
			if err := recv.WaitOutput(want, 2*time.Second); err != nil {
				t.Errorf("receiver: %v\n%s", err, recv.Output())
			}
		})
	}
}

// TestConnPending: Pending is false on an idle socket, true once an
// advert waits in its queue, and false again when reading emptied it
// (the engine reads a waiting advert before a takeover).
func TestConnPending(t *testing.T) {
	lab := netns.New(t, 2)
	n1, n2 := lab.Node(1), lab.Node(2)
	for _, tc := range []struct {
		family        model.Family
		src, dst, vip netip.Addr
	}{
		{model.IPv4, n1.Addr.Addr(), packet.Group4, netip.MustParseAddr("10.99.0.100")},
		{model.IPv6, n1.LinkLocal, packet.Group6, netip.MustParseAddr("2001:db8:99::100")},
	} {
		t.Run(string(tc.family), func(t *testing.T) {
			payload := encode(t, &packet.Advert{Version: 3, VRID: 51, Priority: 150,
				Interval: time.Second, Addrs: []netip.Addr{tc.vip}}, tc.src, tc.dst)
			pending := startHelper(t, n2, "pending", string(tc.family))
			if err := pending.WaitOutput("IDLE pending=false", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			send := startHelper(t, n1, "send", string(tc.family), "-", tc.dst.String(), hex.EncodeToString(payload), "3")
			if code, err := send.Wait(10 * time.Second); err != nil || code != 0 {
				t.Fatalf("sender: %d %v\n%s", code, err, send.Output())
			}
			if code, err := pending.Wait(10 * time.Second); err != nil || code != 0 {
				t.Fatalf("pending helper: %d %v\n%s", code, err, pending.Output())
			}
			for _, want := range []string{"QUEUED", "DRAINED after"} {
				if !strings.Contains(pending.Output(), want) {
					t.Errorf("pending helper output lacks %q:\n%s", want, pending.Output())
				}
			}
		})
	}
}

// TestConnUnicast sends from a configured source to a peer address.
func TestConnUnicast(t *testing.T) {
	lab := netns.New(t, 2)
	capture := lab.Capture(t)
	n1, n2 := lab.Node(1), lab.Node(2)
	for _, tc := range []struct {
		desc     string
		family   model.Family
		src, dst netip.Addr
	}{
		{"ipv4", model.IPv4, n1.Addr.Addr(), n2.Addr.Addr()},
		{"ipv6", model.IPv6, n1.Addr6.Addr(), n2.Addr6.Addr()},
		// No zone on the destination: the control message's interface
		// index chooses the link.
		{"ipv6 link-local", model.IPv6, n1.LinkLocal, n2.LinkLocal},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			payload := encode(t, &packet.Advert{Version: 3, VRID: 7, Priority: 100,
				Interval: 100 * time.Millisecond, Addrs: []netip.Addr{tc.dst.Next()}}, tc.src, tc.dst)
			recv := startHelper(t, n2, "recv", string(tc.family))
			if err := recv.WaitOutput("READY", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			send := startHelper(t, n1, "send", string(tc.family), tc.src.String(), tc.dst.String(), hex.EncodeToString(payload), "3")
			if code, err := send.Wait(10 * time.Second); err != nil || code != 0 {
				t.Fatalf("sender: %d %v\n%s", code, err, send.Output())
			}
			f, err := capture.Wait(start, func(f *netns.Frame) bool { return f.IsVRRP() && bytes.Equal(f.Src, n1.MAC) }, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Dst, n2.MAC) || f.IPSrc != tc.src || f.IPDst != tc.dst || f.TTL != 255 {
				t.Errorf("frame to %s %s from %s TTL %d, want to %s %s from %s TTL 255", f.Dst, f.IPDst, f.IPSrc, f.TTL, n2.MAC, tc.dst, tc.src)
			}
			// stamped: the kernel's receive time came with it, and before the read.
			want := fmt.Sprintf("RECV %s %s 255 %x stamped", tc.src, tc.dst, payload)
			if err := recv.WaitOutput(want, 2*time.Second); err != nil {
				t.Errorf("receiver: %v\n%s", err, recv.Output())
			}
		})
	}
}

// TestAddresses drives Addresses through a handle in the node namespace
// and checks the kernel's view with ip(8).
// labAddresses returns Addresses on the lab's handle in n's namespace.
func labAddresses(t *testing.T, n *netns.Node) *Addresses {
	t.Helper()
	h, err := n.Handle()
	if err != nil {
		t.Fatal(err)
	}
	return NewAddressesWith(h)
}

func TestAddresses(t *testing.T) {
	lab := netns.New(t, 1)
	n := lab.Node(1)
	a := labAddresses(t, n)
	v4 := model.VIPSpec{Prefix: netip.MustParsePrefix("10.99.0.100/24"), Device: n.Iface, Label: n.Iface + ":web"}
	v6 := model.VIPSpec{Prefix: netip.MustParsePrefix("2001:db8:99::100/64"), Device: n.Iface}
	for _, vip := range []model.VIPSpec{v4, v6, v4, v6} { // twice: idempotent
		if err := a.Add(vip); err != nil {
			t.Fatalf("Add(%v): %v", vip, err)
		}
	}
	out := n.MustExec(t, "ip", "-o", "addr", "show", "dev", n.Iface)
	if !strings.Contains(out, "inet 10.99.0.100/24 brd 10.99.0.255") || !strings.Contains(out, n.Iface+":web") {
		t.Errorf("IPv4 VIP with broadcast address and label missing:\n%s", out)
	}
	v6line := lineWith(out, "2001:db8:99::100/64")
	if v6line == "" || !strings.Contains(v6line, "nodad") || strings.Contains(v6line, "tentative") {
		t.Errorf("IPv6 VIP must be present with nodad and not tentative: %q", v6line)
	}
	list, err := a.List(n.Iface)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{n.Addr, v4.Prefix, n.Addr6, v6.Prefix}
	if !samePrefixes(list, want) {
		t.Errorf("List = %v, want %v (no link-local)", list, want)
	}
	// AddNew tells present from added, in both families.
	for _, vip := range []model.VIPSpec{v4, v6} {
		if added, err := a.AddNew(vip); err != nil || added {
			t.Errorf("AddNew(%v) of a present address = %v, %v; want false, nil", vip.Prefix, added, err)
		}
	}
	fresh := []model.VIPSpec{{Prefix: netip.MustParsePrefix("10.99.0.101/24"), Device: n.Iface},
		{Prefix: netip.MustParsePrefix("2001:db8:99::101/64"), Device: n.Iface}}
	for _, vip := range fresh {
		if added, err := a.AddNew(vip); err != nil || !added {
			t.Errorf("AddNew(%v) of an absent address = %v, %v; want true, nil", vip.Prefix, added, err)
		}
		if has, _ := n.HasAddr(n.Iface, vip.Prefix.Addr()); !has {
			t.Errorf("%s absent after AddNew", vip.Prefix)
		}
		if err := a.Delete(vip); err != nil {
			t.Fatal(err)
		}
	}
	if line := lineWith(n.MustExec(t, "ip", "-o", "addr", "show", "dev", n.Iface), "2001:db8:99::100/64"); !strings.Contains(line, "nodad") {
		t.Errorf("IPv6 VIP lost nodad: %q", line)
	}
	for _, vip := range []model.VIPSpec{v4, v6, v4, v6} {
		if err := a.Delete(vip); err != nil {
			t.Fatalf("Delete(%v): %v", vip, err)
		}
	}
	for _, vip := range []model.VIPSpec{v4, v6} {
		if has, _ := n.HasAddr(n.Iface, vip.Prefix.Addr()); has {
			t.Errorf("%s still present after Delete", vip.Prefix)
		}
	}
	if err := a.Delete(model.VIPSpec{Prefix: v4.Prefix, Device: "hkvnosuch0"}); err != nil {
		t.Errorf("Delete on a missing device: %v", err)
	}
	if err := a.Add(model.VIPSpec{Prefix: v4.Prefix, Device: "hkvnosuch0"}); err == nil || !strings.Contains(err.Error(), "hkvnosuch0") {
		t.Errorf("Add on a missing device: want an error naming it, got %v", err)
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func samePrefixes(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[netip.Prefix]int{}
	for _, p := range a {
		seen[p]++
	}
	for _, p := range b {
		if seen[p] == 0 {
			return false
		}
		seen[p]--
	}
	return true
}

// TestAnnouncer checks the gratuitous ARP and unsolicited NA byte layout
// as captured on the bridge.
func TestAnnouncer(t *testing.T) {
	lab := netns.New(t, 1)
	capture := lab.Capture(t)
	n := lab.Node(1)
	vip4 := netip.MustParseAddr("10.99.0.100")
	vip6 := netip.MustParseAddr("2001:db8:99::100")
	n.MustExec(t, "ip", "addr", "add", vip4.String()+"/32", "dev", n.Iface)
	n.MustExec(t, "ip", "addr", "add", vip6.String()+"/128", "dev", n.Iface, "nodad")
	start := time.Now()
	p := startHelper(t, n, "announce", vip4.String(), vip6.String())
	if code, err := p.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("announce: %d %v\n%s", code, err, p.Output())
	}
	garps := waitFrames(capture, start, func(f *netns.Frame) bool { return f.GARPFor(vip4) }, 2)
	if len(garps) != 2 {
		t.Fatalf("want 2 gratuitous ARPs for %s, captured %d", vip4, len(garps))
	}
	g := garps[0]
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if !bytes.Equal(g.Dst, bcast) || !bytes.Equal(g.Src, n.MAC) {
		t.Errorf("GARP frame %s -> %s, want %s -> broadcast", g.Src, g.Dst, n.MAC)
	}
	pl := g.Payload
	if binary.BigEndian.Uint16(pl[0:2]) != 1 || binary.BigEndian.Uint16(pl[2:4]) != 0x0800 || pl[4] != 6 || pl[5] != 4 {
		t.Errorf("ARP header %x: want Ethernet/IPv4 6/4", pl[0:6])
	}
	if !bytes.Equal(pl[8:14], n.MAC) {
		t.Errorf("sender hardware address %x, want %s", pl[8:14], n.MAC)
	}

	nas := waitFrames(capture, start, func(f *netns.Frame) bool { return f.NAFor(vip6) }, 2)
	if len(nas) != 2 {
		t.Fatalf("want 2 neighbour advertisements for %s, captured %d", vip6, len(nas))
	}
	na := nas[0]
	if na.Dst.String() != "33:33:00:00:00:01" || na.IPDst != netip.MustParseAddr("ff02::1") || na.IPSrc != vip6 || na.TTL != 255 {
		t.Errorf("NA %s -> %s (%s), hop limit %d; want %s -> ff02::1 (33:33:00:00:00:01), 255", na.IPSrc, na.IPDst, na.Dst, na.TTL, vip6)
	}
	icmp := na.Payload
	if flags := icmp[4]; flags&0x20 == 0 || flags&0x40 != 0 || flags&0x80 != 0 {
		t.Errorf("NA flags %#x: want Override set, Solicited and Router clear", flags)
	}
	if len(icmp) != 32 || icmp[24] != 2 || icmp[25] != 1 || !bytes.Equal(icmp[26:32], n.MAC) {
		t.Errorf("NA options %x: want one target link-layer address option with %s", icmp[24:], n.MAC)
	}
}

// waitFrames returns the frames captured since start that match, once
// there are want of them or 2 s have passed, and after a quiet wait so
// that one too many would show too. The sender has exited by then: only
// the capture's reader can lag, and on a loaded machine it does.
func waitFrames(c *netns.Capture, start time.Time, match func(*netns.Frame) bool, want int) []netns.Frame {
	deadline := time.Now().Add(2 * time.Second)
	for len(c.Since(start, match)) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return c.Since(start, match)
}

// TestLinks watches the lab interface go down and up.
func TestLinks(t *testing.T) {
	lab := netns.New(t, 1)
	n := lab.Node(1)
	p := startHelper(t, n, "links")
	if err := p.WaitOutput("READY up=true", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Watching: its report of the starting state has come.
	if err := p.WaitOutput("CHANGE eth0 up=true err=<nil>", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLink(false); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput("CHANGE eth0 up=false err=<nil>", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLink(true); err != nil {
		t.Fatal(err)
	}
	// The second up: the first is Watch's report of the starting state.
	deadline := time.Now().Add(2 * time.Second)
	for strings.Count(p.Output(), "CHANGE eth0 up=true err=<nil>") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("link up not reported:\n%s", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLinksWatchStartsWithCurrentState: Watch reports every link once
// as soon as it watches, with nothing changing. A caller that read a link
// down before watching (hakeeper run's first pass comes before the
// engine's watch) would otherwise miss it coming up in between, and keep
// its group faulted until the link changed again.
func TestLinksWatchStartsWithCurrentState(t *testing.T) {
	lab := netns.New(t, 1)
	p := startHelper(t, lab.Node(1), "links")
	if err := p.WaitOutput("READY up=true", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput("CHANGE eth0 up=true err=<nil>", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestAddressesFollowRecreatedDevice: a device deleted and created again
// under the same name must not lose a VIP, and after a rename the name
// means the device that carries it now.
func TestAddressesFollowRecreatedDevice(t *testing.T) {
	lab := netns.New(t, 1)
	n := lab.Node(1)
	const dev, peer, renamed = "hkvcache0", "hkvcache1", "hkvcache2"
	create := func() {
		n.MustExec(t, "ip", "link", "add", dev, "type", "veth", "peer", "name", peer)
		n.MustExec(t, "ip", "link", "set", dev, "up")
	}
	create()
	a := labAddresses(t, n)
	vip := model.VIPSpec{Prefix: netip.MustParsePrefix("10.99.7.1/24"), Device: dev}
	if err := a.Add(vip); err != nil {
		t.Fatal(err)
	}
	// Deleted and created again: the old index names no device now.
	n.MustExec(t, "ip", "link", "del", dev)
	create()
	if err := a.Add(vip); err != nil {
		t.Fatalf("Add after the device was recreated: %v", err)
	}
	if has, _ := n.HasAddr(dev, vip.Prefix.Addr()); !has {
		t.Fatalf("VIP not on the recreated %s:\n%s", dev, n.MustExec(t, "ip", "addr"))
	}
	if list, err := a.List(dev); err != nil || !slices.Contains(list, vip.Prefix) {
		t.Errorf("List(%s) = %v, %v; want the VIP", dev, list, err)
	}
	// Recreated again with an address put there by hand: List must not
	// answer from the dead index (an empty list would make the engine
	// claim the administrator's address).
	n.MustExec(t, "ip", "link", "del", dev)
	create()
	n.MustExec(t, "ip", "addr", "add", "10.99.8.1/24", "dev", dev)
	if list, err := a.List(dev); err != nil || !slices.Contains(list, netip.MustParsePrefix("10.99.8.1/24")) {
		t.Errorf("List(%s) after recreation = %v, %v; want 10.99.8.1/24", dev, list, err)
	}
	// Renamed, and a new device takes the name: the name means the new
	// device.
	n.MustExec(t, "ip", "link", "set", dev, "down")
	n.MustExec(t, "ip", "link", "set", dev, "name", renamed)
	n.MustExec(t, "ip", "link", "del", peer) // takes the renamed end with it
	create()
	if err := a.Add(vip); err != nil {
		t.Fatal(err)
	}
	if has, _ := n.HasAddr(dev, vip.Prefix.Addr()); !has {
		t.Errorf("after a rename, the VIP went elsewhere:\n%s", n.MustExec(t, "ip", "addr"))
	}
	if err := a.Delete(vip); err != nil {
		t.Fatal(err)
	}
	if has, _ := n.HasAddr(dev, vip.Prefix.Addr()); has {
		t.Errorf("VIP still on %s after Delete", dev)
	}
}

// TestAnnouncerFollowsMACChange: announcements go out for both families,
// and after the interface's MAC changes they carry the new MAC.
func TestAnnouncerFollowsMACChange(t *testing.T) {
	lab := netns.New(t, 1)
	capture := lab.Capture(t)
	n := lab.Node(1)
	vip4 := netip.MustParseAddr("10.99.0.100")
	vip6 := netip.MustParseAddr("2001:db8:99::100")
	n.MustExec(t, "ip", "addr", "add", vip4.String()+"/32", "dev", n.Iface)
	n.MustExec(t, "ip", "addr", "add", vip6.String()+"/128", "dev", n.Iface, "nodad")
	newMAC := net.HardwareAddr{0x02, 0, 0, 0, 0x77, 0x01}
	start := time.Now()
	p := startHelper(t, n, "macchange", vip4.String(), vip6.String(), newMAC.String())
	if code, err := p.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("macchange: %d %v\n%s", code, err, p.Output())
	}
	garps := waitFrames(capture, start, func(f *netns.Frame) bool { return f.GARPFor(vip4) }, 2)
	if len(garps) != 2 {
		t.Fatalf("want 2 gratuitous ARPs (before and after the MAC change), captured %d", len(garps))
	}
	for i, want := range []net.HardwareAddr{n.MAC, newMAC} {
		if g := garps[i]; !bytes.Equal(g.Src, want) || !bytes.Equal(g.Payload[8:14], want) {
			t.Errorf("GARP %d from %s, sender %x; want %s", i, g.Src, g.Payload[8:14], want)
		}
	}
	if nas := waitFrames(capture, start, func(f *netns.Frame) bool { return f.NAFor(vip6) }, 1); len(nas) != 1 {
		t.Errorf("want 1 neighbour advertisement, captured %d", len(nas))
	}
}

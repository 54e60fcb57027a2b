//go:build vmtest

package ipvskernel_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/lvs"
)

// director is a data-path lab inside the VM: a director namespace with
// the VIP on a dummy link, a client namespace routed through it, and
// backend namespaces serving TCP that answer with their own name.
type director struct {
	path      string
	ns        netns.NsHandle
	client    netns.NsHandle
	listeners map[string]net.Listener
	backendNS map[string]netns.NsHandle
}

const (
	vip  = "192.0.2.10"
	vip6 = "2001:db8::10"
)

func handleAt(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// link joins the director to ns by a veth pair on network n: 10.n.0.0/24
// and 2001:db8:n::/64, the director at .254 and ::fe, the other end at .1
// and ::1 with its default routes via the director.
func (d *director) link(t *testing.T, ns netns.NsHandle, name string, n int) (netip.Addr, netip.Addr) {
	hd, hn := handleAt(t, d.ns), handleAt(t, ns)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "e1d-" + name}, PeerName: "e1p-" + name, PeerNamespace: netlink.NsFd(int(ns))}
	must(t, hd.LinkAdd(veth), "add veth")
	dl, err := hd.LinkByName("e1d-" + name)
	must(t, err, "director end")
	pl, err := hn.LinkByName("e1p-" + name)
	must(t, err, "peer end")
	v4 := netip.AddrFrom4([4]byte{10, byte(n), 0, 1})
	v6 := netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", n))
	for _, pair := range [][2]string{
		{fmt.Sprintf("10.%d.0.254/24", n), v4.String() + "/24"},
		{fmt.Sprintf("2001:db8:%x::fe/64", n), v6.String() + "/64"},
	} {
		da, _ := netlink.ParseAddr(pair[0])
		pa, _ := netlink.ParseAddr(pair[1])
		// Without duplicate address detection the addresses are usable at once.
		da.Flags, pa.Flags = unix.IFA_F_NODAD, unix.IFA_F_NODAD
		must(t, hd.AddrAdd(dl, da), "director address")
		must(t, hn.AddrAdd(pl, pa), "peer address")
		// A route needs its link up: added on return, after LinkSetUp.
		defer func() {
			must(t, hn.RouteAdd(&netlink.Route{Gw: da.IP, LinkIndex: pl.Attrs().Index}), "default route")
		}()
	}
	must(t, hd.LinkSetUp(dl), "director end up")
	must(t, hn.LinkSetUp(pl), "peer end up")
	return v4, v6
}

func newDirector(t *testing.T) *director {
	path, ns := newNetns(t)
	_, client := newNetns(t)
	d := &director{path: path, ns: ns, client: client}
	hd := handleAt(t, ns)
	must(t, hd.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "e1vip"}}), "add dummy")
	l, err := hd.LinkByName("e1vip")
	must(t, err, "dummy")
	for _, prefix := range []string{vip + "/32", vip6 + "/128"} {
		a, _ := netlink.ParseAddr(prefix)
		a.Flags = unix.IFA_F_NODAD
		must(t, hd.AddrAdd(l, a), "VIP")
	}
	must(t, hd.LinkSetUp(l), "dummy up")
	// NAT replies from the backends reach IPVS on the forward path.
	must(t, inNetns(ns, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			return err
		}
		return os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0)
	}), "forwarding")
	d.link(t, client, "c", 100)
	return d
}

// backend starts a namespace on network i serving TCP on port 8080 (both
// families) that writes name, and returns its addresses.
func (d *director) backend(t *testing.T, i int, name string) (netip.Addr, netip.Addr) {
	_, ns := newNetns(t)
	v4, v6 := d.link(t, ns, fmt.Sprint("b", i), i)
	ln := serve(t, ns, name)
	if d.listeners == nil {
		d.listeners, d.backendNS = map[string]net.Listener{}, map[string]netns.NsHandle{}
	}
	d.listeners[name], d.backendNS[name] = ln, ns
	return v4, v6
}

// serve listens on port 8080 in ns and answers every connection with name.
func serve(t *testing.T, ns netns.NsHandle, name string) net.Listener {
	var ln net.Listener
	must(t, inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", ":8080")
		return err
	}), "listen")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name)
			c.Close()
		}
	}()
	return ln
}

// kill stops a backend's server: connections to it are refused.
func (d *director) kill(name string) { d.listeners[name].Close() }

// revive starts a killed backend's server again.
func (d *director) revive(t *testing.T, name string) {
	d.listeners[name] = serve(t, d.backendNS[name], name)
}

// ask connects from the client namespace to the VIP and returns the
// name of the backend that answered.
func (d *director) ask(t *testing.T, vip string) string {
	t.Helper()
	var got []byte
	err := inNetns(d.client, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(vip, "80"), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("connect to the VIP: %v", err)
	}
	return string(got)
}

func (d *director) askN(t *testing.T, vip string, n int) []string {
	var out []string
	for range n {
		out = append(out, d.ask(t, vip))
	}
	return out
}

func count(answers []string) map[string]int {
	m := map[string]int{}
	for _, a := range answers {
		m[a]++
	}
	return m
}

// TestDataPath sends connections through the VIP and checks which
// backends answer as hakeeper reprograms the service.
func TestDataPath(t *testing.T) {
	d := newDirector(t)
	b1, _ := d.backend(t, 1, "b1")
	b2, _ := d.backend(t, 2, "b2")
	k := openKernel(t, d.path)
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	svc := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr(vip), Port: 80, Scheduler: "rr"}
	sync := func(svc lvs.Service, dests ...lvs.Destination) {
		t.Helper()
		plan, _, err := p.Sync([]lvs.VirtualServer{{Name: "web", Service: svc, Destinations: dests}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("applied %q", opStrings(plan.Ops))
	}
	d1 := lvs.Destination{Address: b1, Port: 8080, Weight: 1}
	d2 := lvs.Destination{Address: b2, Port: 8080, Weight: 1}

	sync(svc, d1, d2)
	answers := d.askN(t, vip, 6)
	for i := 1; i < len(answers); i++ {
		if answers[i] == answers[i-1] || (answers[i] != "b1" && answers[i] != "b2") {
			t.Fatalf("rr: answers %v do not alternate between b1 and b2", answers)
		}
	}

	// wrr with weights 1:3, changed in place.
	svc.Scheduler = "wrr"
	d2.Weight = 3
	sync(svc, d1, d2)
	if c := count(d.askN(t, vip, 8)); c["b1"] != 2 || c["b2"] != 6 {
		t.Errorf("wrr 1:3: answers %v, want b1 2, b2 6", c)
	}

	// sh: one client, one backend.
	svc.Scheduler = "sh"
	sync(svc, d1, d2)
	if c := count(d.askN(t, vip, 6)); len(c) != 1 {
		t.Errorf("sh: one client reached %v, want a single backend", c)
	}

	// Weight 0 drains a backend: new connections go to the other.
	svc.Scheduler = "rr"
	d1.Weight = 0
	sync(svc, d1, d2)
	if c := count(d.askN(t, vip, 4)); c["b2"] != 4 {
		t.Errorf("b1 drained: answers %v, want only b2", c)
	}

	// Removing a real server: the remaining one takes everything.
	sync(svc, d1)
	d1.Weight = 1
	sync(svc, d1)
	if c := count(d.askN(t, vip, 4)); c["b1"] != 4 {
		t.Errorf("b2 removed: answers %v, want only b1", c)
	}
}

// TestDataPathIPv6 does the rr check over IPv6.
func TestDataPathIPv6(t *testing.T) {
	d := newDirector(t)
	_, b1 := d.backend(t, 1, "b1")
	_, b2 := d.backend(t, 2, "b2")
	k := openKernel(t, d.path)
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	svc := lvs.Service{Family: lvs.FamilyIPv6, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr(vip6), Port: 80, Scheduler: "rr"}
	if _, _, err := p.Sync([]lvs.VirtualServer{{Name: "web6", Service: svc, Destinations: []lvs.Destination{
		{Address: b1, Port: 8080, Weight: 1}, {Address: b2, Port: 8080, Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	answers := d.askN(t, vip6, 6)
	for i := 1; i < len(answers); i++ {
		if answers[i] == answers[i-1] || (answers[i] != "b1" && answers[i] != "b2") {
			t.Fatalf("rr over IPv6: answers %v do not alternate between b1 and b2", answers)
		}
	}
}

// BenchmarkInitialApply1000x10 loads 1,000 services × 10 destinations
// into empty tables, through hakeeper and through `ipvsadm -R`, in the
// same VM run, and reports both and their ratio.
func BenchmarkInitialApply1000x10(b *testing.B) {
	const services, perService = 1000, 10
	var desired []lvs.VirtualServer
	var restore strings.Builder
	for i := range services {
		svc := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr(vip), Port: uint16(i + 1), Scheduler: "wlc"}
		fmt.Fprintf(&restore, "-A -t %s:%d -s wlc\n", vip, i+1)
		vs := lvs.VirtualServer{Name: fmt.Sprint("s", i), Service: svc}
		for j := range perService {
			dst := lvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(j + 1)}), Port: 80, Weight: 1}
			vs.Destinations = append(vs.Destinations, dst)
			fmt.Fprintf(&restore, "-a -t %s:%d -r %s:80 -m -w 1\n", vip, i+1, dst.Address)
		}
		desired = append(desired, vs)
	}
	var ours, theirs time.Duration
	for b.Loop() {
		b.StopTimer()
		nsOurs, _ := newNetns(b)
		nsTheirs, _ := newNetns(b)
		k := openKernel(b, nsOurs)
		p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(b.TempDir(), "ipvs-owned.json")}
		b.StartTimer()

		start := time.Now()
		if _, _, err := p.Sync(desired); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)

		b.StopTimer()
		start = time.Now()
		ipvsadm(b, nsTheirs, restore.String(), "-R")
		theirs += time.Since(start)

		// Both loaded the same table: ours plans nothing against theirs.
		kt := openKernel(b, nsTheirs)
		live, err := lvs.ReadTable(kt)
		if err != nil {
			b.Fatal(err)
		}
		owned := lvs.Owned{}
		for _, vs := range live {
			owned[vs.Service.Key()] = struct{}{}
		}
		plan, err := lvs.Diff(desired, live, owned, lvs.DiffOptions{})
		if err != nil || !plan.Empty() || len(live) != services {
			b.Fatalf("ipvsadm's table differs from ours: %d services, %d ops, %v", len(live), len(plan.Ops), err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Milliseconds())/n, "ms-hakeeper/op")
	b.ReportMetric(float64(theirs.Milliseconds())/n, "ms-ipvsadm/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
	b.Logf("initial apply of %d×%d: hakeeper %v, ipvsadm -R %v, ratio %.2f", services, perService, ours/time.Duration(b.N), theirs/time.Duration(b.N), float64(ours)/float64(theirs))
}

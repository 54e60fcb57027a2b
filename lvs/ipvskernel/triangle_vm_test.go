//go:build vmtest

package ipvskernel_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
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
	"github.com/hakeeper/hakeeper/model"
)

// The direct-routing (DR) and tunnel (TUN) data paths are triangles: the
// client's packets reach a backend through the director, the backend's
// replies go to the client straight, from the VIP. These tests build the
// classic layout (client, director and backends on one L2 segment), program
// the service through lvs, and watch the frames on both ends.

// lanPort is the name of every node's link to the segment, in its own
// namespace.
const lanPort = "lan0"

// segment is one Ethernet segment: a bridge in a namespace of its own.
type segment struct {
	ns     netns.NsHandle
	bridge netlink.Link
	ports  int
}

// lanNode is a namespace attached to the segment at host number host:
// 10.77.0.host/24 and 2001:db8:77::host/64.
type lanNode struct {
	path   string
	ns     netns.NsHandle
	h      *netlink.Handle
	lan    netlink.Link
	mac    string
	v4, v6 netip.Addr
}

func (n *lanNode) addr(fam model.Family) netip.Addr {
	if fam == model.IPv6 {
		return n.v6
	}
	return n.v4
}

func newSegment(t *testing.T) *segment {
	_, ns := newNetns(t)
	h := handleAt(t, ns)
	off := false
	// Without multicast snooping the bridge floods neighbour solicitations
	// to every port, whichever MLD reports it happened to see.
	must(t, h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &off}), "add bridge")
	br, err := h.LinkByName("br0")
	must(t, err, "bridge")
	must(t, h.LinkSetUp(br), "bridge up")
	return &segment{ns: ns, bridge: br}
}

// attach creates a namespace with a port on the segment at host number host.
func (s *segment) attach(t *testing.T, host int) *lanNode {
	path, ns := newNetns(t)
	hs, hn := handleAt(t, s.ns), handleAt(t, ns)
	n := &lanNode{path: path, ns: ns, h: hn,
		v4: netip.AddrFrom4([4]byte{10, 77, 0, byte(host)}),
		v6: netip.MustParseAddr(fmt.Sprintf("2001:db8:77::%x", host))}
	// A node sends neighbour solicitations for addresses on other ports
	// (a backend's VIP is on lo or a tunnel) from its link-local address,
	// and not at all until that passed duplicate address detection: a
	// second or two, as long as all of a test. The port comes up without.
	n.sysctl(t, "ipv6.conf.default.accept_dad", "0")
	s.ports++
	swName := fmt.Sprintf("sw%d", s.ports)
	must(t, hs.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: swName, MasterIndex: s.bridge.Attrs().Index},
		PeerName: lanPort, PeerNamespace: netlink.NsFd(int(ns))}), "add veth")
	sw, err := hs.LinkByName(swName)
	must(t, err, "switch port")
	lan, err := hn.LinkByName(lanPort)
	must(t, err, "node port")
	n.lan, n.mac = lan, lan.Attrs().HardwareAddr.String()
	n.addAddr(t, lan, netip.PrefixFrom(n.v4, 24))
	n.addAddr(t, lan, netip.PrefixFrom(n.v6, 64))
	must(t, hs.LinkSetUp(sw), "switch port up")
	must(t, hn.LinkSetUp(lan), "node port up")
	return n
}

func (n *lanNode) addAddr(t *testing.T, link netlink.Link, p netip.Prefix) {
	t.Helper()
	a, err := netlink.ParseAddr(p.String())
	must(t, err, "parse "+p.String())
	// Without duplicate address detection the address is usable at once.
	a.Flags = unix.IFA_F_NODAD
	must(t, n.h.AddrAdd(link, a), fmt.Sprintf("add %s to %s", p, link.Attrs().Name))
}

var (
	vip4Prefix = netip.MustParsePrefix(vip + "/32")
	vip6Prefix = netip.MustParsePrefix(vip6 + "/128")
)

// addVIP puts the VIP prefixes on the named link of n and sets it up.
func (n *lanNode) addVIP(t *testing.T, name string, vips ...netip.Prefix) {
	t.Helper()
	l, err := n.h.LinkByName(name)
	must(t, err, name)
	for _, p := range vips {
		n.addAddr(t, l, p)
	}
	must(t, n.h.LinkSetUp(l), name+" up")
}

// sysctl sets /proc/sys/net/... keys (dotted, without "net.") in n.
func (n *lanNode) sysctl(t *testing.T, kv ...string) {
	t.Helper()
	must(t, inNetns(n.ns, func() error {
		for i := 0; i < len(kv); i += 2 {
			p := "/proc/sys/net/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(p, []byte(kv[i+1]), 0); err != nil {
				return err
			}
		}
		return nil
	}), "sysctl")
}

// serveAddrs listens on port 80 in ns and answers every connection with
// "name local remote": the addresses the backend's socket saw.
func serveAddrs(t *testing.T, ns netns.NsHandle, name string) {
	var ln net.Listener
	must(t, inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp", ":80")
		return err
	}), "listen")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s %s\n", name, c.LocalAddr(), c.RemoteAddr())
			c.Close()
		}
	}()
}

// answer is what the client learnt from one connection.
type answer struct {
	backend string
	// client is the client socket's own address; seenLocal and seenRemote
	// are the backend socket's.
	client, seenLocal, seenRemote netip.AddrPort
}

func dialVIP(t *testing.T, client *lanNode, to netip.AddrPort) answer {
	t.Helper()
	var a answer
	err := inNetns(client.ns, func() error {
		c, err := net.DialTimeout("tcp", to.String(), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		a.client = unmapped(c.LocalAddr().(*net.TCPAddr).AddrPort())
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("answer %q", line)
		}
		a.backend = f[0]
		if a.seenLocal, err = netip.ParseAddrPort(f[1]); err != nil {
			return err
		}
		a.seenRemote, err = netip.ParseAddrPort(f[2])
		a.seenLocal, a.seenRemote = unmapped(a.seenLocal), unmapped(a.seenRemote)
		return err
	})
	if err != nil {
		t.Fatalf("connect to %s: %v", to, err)
	}
	return a
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// triangle is the lab: a client, a director with the VIPs on its LAN port,
// and backends b1, b2 serving on port 80, all on one segment.
type triangle struct {
	client, director *lanNode
	backends         map[string]*lanNode
	names            map[string]string // backend MAC -> name
}

func newTriangle(t *testing.T, fwd model.Forwarding) *triangle {
	seg := newSegment(t)
	tr := &triangle{client: seg.attach(t, 100), director: seg.attach(t, 254),
		backends: map[string]*lanNode{}, names: map[string]string{}}

	// The director owns the VIPs on the segment: it alone answers ARP and
	// neighbour solicitations for them. It does not route: nothing may
	// depend on packets passing through it other than through IPVS.
	tr.director.addVIP(t, lanPort, vip4Prefix, vip6Prefix)
	tr.director.sysctl(t, "ipv4.ip_forward", "0", "ipv6.conf.all.forwarding", "0")

	// The client reaches the VIPs on the segment, by ARP and NDP.
	for _, p := range []netip.Prefix{vip4Prefix, vip6Prefix} {
		dst, _ := netlink.ParseIPNet(p.String())
		must(t, tr.client.h.RouteAdd(&netlink.Route{Dst: dst, LinkIndex: tr.client.lan.Attrs().Index, Scope: netlink.SCOPE_LINK}), "route to the VIP")
	}

	for i, name := range []string{"b1", "b2"} {
		b := seg.attach(t, i+1)
		// Own the VIPs without answering ARP for them (arp_ignore=1: only
		// for addresses on the asking port) nor using them as the sender
		// address of the backend's own ARP requests (arp_announce=2), which
		// would point the client's neighbour entry for the VIP at the
		// backend. IPv6 neighbour discovery already answers only for
		// addresses on the soliciting port.
		b.sysctl(t, "ipv4.conf.all.arp_ignore", "1", "ipv4.conf.all.arp_announce", "2")
		switch fwd {
		case model.DR:
			b.addVIP(t, "lo", vip4Prefix, vip6Prefix)
		case model.Tunnel:
			// The ipip and ip6_tunnel modules give every namespace a
			// fallback tunnel that decapsulates packets sent to any local
			// address. The inner packet arrives on tunl0 while the route
			// back to the client leaves by lan0: rp_filter must be off.
			b.addVIP(t, "tunl0", vip4Prefix)
			b.addVIP(t, "ip6tnl0", vip6Prefix)
			b.sysctl(t, "ipv4.conf.all.rp_filter", "0", "ipv4.conf.tunl0.rp_filter", "0")
		}
		serveAddrs(t, b.ns, name)
		tr.backends[name], tr.names[b.mac] = b, name
	}
	return tr
}

// program puts the service VIP:80 (rr, fwd) on the director with both
// backends as real servers, through the model and the programmer.
func (tr *triangle) program(t *testing.T, fam model.Family, fwd model.Forwarding) netip.AddrPort {
	addr := netip.MustParseAddr(vip)
	if fam == model.IPv6 {
		addr = netip.MustParseAddr(vip6)
	}
	vs := model.VirtualService{Name: "web", Family: fam, Protocol: model.TCP, Address: addr, Port: 80,
		Scheduler: "rr", Forwarding: fwd}
	for _, name := range []string{"b1", "b2"} {
		// No port: DR and TUN cannot translate it, the service's is used.
		vs.RealServers = append(vs.RealServers, model.RealServerSpec{Address: tr.backends[name].addr(fam), Weight: 1})
	}
	p := &lvs.Programmer{IPVS: openKernel(t, tr.director.path), StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	desired := lvs.TableFromModel([]model.VirtualService{vs})
	if _, _, err := p.Sync(desired); err != nil {
		t.Fatal(err)
	}
	live, err := lvs.ReadTable(openKernel(t, tr.director.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || len(live[0].Destinations) != 2 {
		t.Fatalf("director's table: %+v", live)
	}
	for _, d := range live[0].Destinations {
		if d.Forwarding != desired[0].Destinations[0].Forwarding || d.Port != 80 {
			t.Fatalf("director's destination %s, want %s to port 80", d, desired[0].Destinations[0].Forwarding)
		}
	}
	return netip.AddrPortFrom(addr, 80)
}

// connect opens n connections from the client to the VIP and returns what
// they answered and the frames the client's and each backend's LAN port
// saw meanwhile.
func (tr *triangle) connect(t *testing.T, to netip.AddrPort, n int) ([]answer, []frame, map[string][]frame) {
	clientCap := capture(t, tr.client)
	backendCaps := map[string]*packetCapture{}
	for name, b := range tr.backends {
		backendCaps[name] = capture(t, b)
	}
	var answers []answer
	for range n {
		answers = append(answers, dialVIP(t, tr.client, to))
	}
	backendFrames := map[string][]frame{}
	for name, c := range backendCaps {
		backendFrames[name] = c.frames(t)
	}
	return answers, clientCap.frames(t), backendFrames
}

// checkAnswers checks what the backends' sockets saw: the client's own
// address and port (no source NAT) and the VIP (no destination NAT), and
// that rr alternated between both backends.
func checkAnswers(t *testing.T, answers []answer, vip netip.AddrPort) {
	t.Helper()
	for i, a := range answers {
		if a.seenLocal != vip || a.seenRemote != a.client {
			t.Errorf("connection %d: %s saw %s -> %s, want the client's %s -> %s", i, a.backend, a.seenRemote, a.seenLocal, a.client, vip)
		}
		if a.backend != "b1" && a.backend != "b2" || i > 0 && a.backend == answers[i-1].backend {
			t.Errorf("rr: connection %d answered by %q after %q, want b1 and b2 alternating", i, a.backend, answers[max(i-1, 0)].backend)
		}
	}
}

// checkClientFrames checks the triangle on the client's port: every
// segment to the VIP went to the director's MAC, every segment from the
// VIP came from the MAC of the backend that answered that connection,
// never from the director.
func (tr *triangle) checkClientFrames(t *testing.T, frames []frame, answers []answer, vip netip.AddrPort) {
	t.Helper()
	for _, a := range answers {
		var in, out int
		var wrong []string // one line per wrong frame; the first is reported
		for _, f := range frames {
			switch {
			case f.ip.isTCP(a.client, vip):
				out++
				if f.dst != tr.director.mac {
					wrong = append(wrong, fmt.Sprintf("%s -> %s %s sent to %s, want the director", a.client, vip, f.ip.flagString(), tr.who(f.dst)))
				}
			case f.ip.isTCP(vip, a.client):
				in++
				if f.src != tr.backends[a.backend].mac {
					wrong = append(wrong, fmt.Sprintf("%s -> %s %s came from %s, want %s", vip, a.client, f.ip.flagString(), tr.who(f.src), a.backend))
				}
			}
		}
		if len(wrong) > 0 {
			t.Errorf("client's port: %s (%d such frames)", wrong[0], len(wrong))
		}
		// SYN and ACK at least each way; the capture must have seen them.
		if in < 2 || out < 2 {
			t.Errorf("client's port saw %d segments to and %d from the VIP for %s, want both ways", out, in, a.client)
		}
	}
}

// who names the lab node with the given MAC.
func (tr *triangle) who(mac string) string {
	switch mac {
	case tr.director.mac:
		return "the director"
	case tr.client.mac:
		return "the client"
	}
	if name, ok := tr.names[mac]; ok {
		return name
	}
	return mac
}

// TestDataPathDirectRouting: DR moves the client's packets to a backend by
// rewriting only the MAC; the backend, holding the VIP on lo, replies
// straight to the client.
func TestDataPathDirectRouting(t *testing.T) {
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		t.Run(string(fam), func(t *testing.T) {
			tr := newTriangle(t, model.DR)
			to := tr.program(t, fam, model.DR)
			answers, clientFrames, backendFrames := tr.connect(t, to, 4)
			checkAnswers(t, answers, to)
			tr.checkClientFrames(t, clientFrames, answers, to)

			// On the backend's port the client's packets arrive unchanged
			// (client -> VIP) in frames from the director's MAC.
			for _, a := range answers {
				n := 0
				var wrong []string
				for _, f := range backendFrames[a.backend] {
					if f.ip.isTCP(a.client, to) {
						n++
						if f.src != tr.director.mac || f.dst != tr.backends[a.backend].mac {
							wrong = append(wrong, fmt.Sprintf("%s from %s to %s, want from the director", f.ip.flagString(), tr.who(f.src), tr.who(f.dst)))
						}
					}
				}
				if len(wrong) > 0 {
					t.Errorf("%s's port: %s -> %s %s (%d such frames)", a.backend, a.client, to, wrong[0], len(wrong))
				}
				if n < 2 {
					t.Errorf("%s's port saw %d segments %s -> %s, want the connection's", a.backend, n, a.client, to)
				}
			}
		})
	}
}

// TestDataPathTunnel: TUN encapsulates the client's packets in IP (IPIP,
// or IPv6-in-IPv6) from the director to a backend, which decapsulates them
// on its fallback tunnel holding the VIP and replies straight to the client.
func TestDataPathTunnel(t *testing.T) {
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		t.Run(string(fam), func(t *testing.T) {
			tr := newTriangle(t, model.Tunnel)
			to := tr.program(t, fam, model.Tunnel)
			answers, clientFrames, backendFrames := tr.connect(t, to, 4)
			checkAnswers(t, answers, to)
			tr.checkClientFrames(t, clientFrames, answers, to)

			// On the backend's port the client's packets arrive inside
			// director -> backend packets; none arrives bare.
			for _, a := range answers {
				b := tr.backends[a.backend]
				encapsulated := 0
				var wrong []string
				for _, f := range backendFrames[a.backend] {
					if f.ip.isTCP(a.client, to) {
						wrong = append(wrong, fmt.Sprintf("%s arrived unencapsulated from %s", f.ip.flagString(), tr.who(f.src)))
					}
					if f.ip.inner != nil && f.ip.inner.isTCP(a.client, to) {
						encapsulated++
						if f.ip.src != tr.director.addr(fam) || f.ip.dst != b.addr(fam) {
							wrong = append(wrong, fmt.Sprintf("%s in a tunnel packet %s -> %s, want director %s -> %s",
								f.ip.inner.flagString(), f.ip.src, f.ip.dst, tr.director.addr(fam), b.addr(fam)))
						}
					}
				}
				if len(wrong) > 0 {
					t.Errorf("%s's port: %s -> %s %s (%d such frames)", a.backend, a.client, to, wrong[0], len(wrong))
				}
				if encapsulated < 2 {
					t.Errorf("%s's port saw %d encapsulated segments %s -> %s, want the connection's", a.backend, encapsulated, a.client, to)
				}
			}
		})
	}
}

// packetCapture is an AF_PACKET socket on a node's LAN port; it queues
// every frame in and out from its opening on.
type packetCapture struct{ fd int }

func capture(t *testing.T, n *lanNode) *packetCapture {
	t.Helper()
	var fd int
	all := int(htons(unix.ETH_P_ALL))
	must(t, inNetns(n.ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, all)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(all), Ifindex: n.lan.Attrs().Index})
	}), "packet socket")
	t.Cleanup(func() { unix.Close(fd) })
	// Many small frames: the default buffer holds a few hundred.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &packetCapture{fd: fd}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frame is one captured Ethernet frame carrying IP.
type frame struct {
	src, dst string // MACs
	ip       ipPacket
}

// frames returns the IP frames queued so far and empties the queue.
func (c *packetCapture) frames(t *testing.T) []frame {
	t.Helper()
	var out []frame
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if err != nil {
			t.Fatalf("read the capture: %v", err)
		}
		b := buf[:n]
		if len(b) < 14 {
			continue
		}
		if p, ok := parseIP(binary.BigEndian.Uint16(b[12:14]), b[14:]); ok {
			out = append(out, frame{src: net.HardwareAddr(b[6:12]).String(), dst: net.HardwareAddr(b[0:6]).String(), ip: p})
		}
	}
}

// ipPacket is the part of an IP packet these tests look at: addresses, the
// TCP ports and flags, or the packet a tunnel packet carries.
type ipPacket struct {
	src, dst     netip.Addr
	proto        byte
	sport, dport uint16
	tcpFlags     byte
	inner        *ipPacket
}

func parseIP(ethertype uint16, b []byte) (ipPacket, bool) {
	var p ipPacket
	var payload []byte
	switch {
	case ethertype == unix.ETH_P_IP && len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&15) * 4
		if ihl < 20 || len(b) < ihl {
			return p, false
		}
		p.proto = b[9]
		p.src, p.dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		payload = b[ihl:]
	case ethertype == unix.ETH_P_IPV6 && len(b) >= 40 && b[0]>>4 == 6:
		p.proto = b[6]
		p.src, p.dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		payload = b[40:]
	default:
		return p, false
	}
	switch p.proto {
	case unix.IPPROTO_TCP:
		if len(payload) >= 14 {
			p.sport, p.dport = binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
			p.tcpFlags = payload[13]
		}
	case unix.IPPROTO_IPIP:
		if inner, ok := parseIP(unix.ETH_P_IP, payload); ok {
			p.inner = &inner
		}
	case unix.IPPROTO_IPV6:
		if inner, ok := parseIP(unix.ETH_P_IPV6, payload); ok {
			p.inner = &inner
		}
	}
	return p, true
}

// isTCP reports whether p is a TCP segment from → to.
func (p ipPacket) isTCP(from, to netip.AddrPort) bool {
	return p.proto == unix.IPPROTO_TCP && p.src == from.Addr() && p.sport == from.Port() && p.dst == to.Addr() && p.dport == to.Port()
}

func (p ipPacket) flagString() string {
	var s []string
	for i, name := range []string{"FIN", "SYN", "RST", "PSH", "ACK"} {
		if p.tcpFlags&(1<<i) != 0 {
			s = append(s, name)
		}
	}
	return "[" + strings.Join(s, ",") + "]"
}

// Package netns is the network-namespace lab for real-kernel tests: a
// bridge namespace and N node namespaces joined to it by veth pairs with
// fixed MACs and addresses, helpers to run processes inside the nodes
// (hakeeper, keepalived), to wait for addresses to appear or disappear,
// and a timestamped packet capture on the bridge. Everything a Lab
// creates is removed by t.Cleanup.
//
// The namespaces themselves are test/netlab's, which `hakeeper demo`
// builds its lab with too. Namespaces are reached through namespace-bound
// handles (netlink handles opened in the namespace, sockets created
// there) or through `ip netns exec` child processes, never by switching
// the test's own threads for longer than it takes to open a socket.
package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// Prefix starts every namespace the lab creates, so leftovers are easy
// to attribute and other engineers' namespaces are never touched.
// HKV_NETNS_PREFIX overrides it, so two people (or CI jobs) sharing a
// host can tell their namespaces apart.
var Prefix = prefixFromEnv()

func prefixFromEnv() string {
	// The pid follows the prefix: a final digit would blur the two.
	if p := os.Getenv("HKV_NETNS_PREFIX"); p != "" && len(p) <= 6 && !strings.ContainsAny(p[len(p)-1:], "0123456789") {
		return p
	}
	return "hkv"
}

// NodeIface is the name of every node's lab interface.
const NodeIface = "eth0"

var labSeq atomic.Int32

// Lab is one bridged segment with its node namespaces (netlab's, with
// this package's addressing plan).
type Lab struct {
	t   testing.TB
	lab *netlab.Lab
	// ID is the unique prefix of this lab's namespace names.
	ID string
	// BridgeNS is the namespace holding the bridge br0.
	BridgeNS string
	Nodes    []*Node
	// Subnet and Subnet6 are the segment's prefixes.
	Subnet  netip.Prefix
	Subnet6 netip.Prefix

	serviceUp bool // ServiceAddr is on br0
}

// Node is one namespace attached to the lab's bridge: its name, Iface,
// MAC, Port and kernel access (Exec, Command, Handle, Addrs, HasAddr)
// are netlab's.
type Node struct {
	*netlab.Node
	lab *Lab
	// Index is 1-based.
	Index int
	Addr  netip.Prefix // IPv4 address with the segment's prefix length
	Addr6 netip.Prefix // global IPv6 address
	// LinkLocal is the interface's fe80:: address (EUI-64 of MAC).
	LinkLocal netip.Addr
}

// Skip skips t unless the lab can run here: root and the ip command.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
}

// New creates a bridge namespace and n node namespaces, skipping t when
// the lab cannot run. Addresses: 10.99.0.(10+i)/24 and 2001:db8:99::(10+i)/64.
func New(t testing.TB, n int) *Lab {
	t.Helper()
	Skip(t)
	// A test binary killed before its cleanup (a timeout) leaves its
	// labs behind; they go once their pid is dead.
	netlab.RemoveStale(Prefix)
	// The separator keeps pid and sequence apart: without it pid 26 with
	// lab 11 and pid 261 with lab 1 would share a name. Only namespace
	// names derive from the ID (link names are fixed and short), so
	// IFNAMSIZ does not bound it.
	id := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), labSeq.Add(1))
	nl, err := netlab.New(id)
	t.Cleanup(func() { nl.Close() })
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{
		t:        t,
		lab:      nl,
		ID:       id,
		BridgeNS: nl.BridgeNS,
		Subnet:   netip.MustParsePrefix("10.99.0.0/24"),
		Subnet6:  netip.MustParsePrefix("2001:db8:99::/64"),
	}
	for i := 1; i <= n; i++ {
		l.addNode(i)
	}
	return l
}

func (l *Lab) addNode(i int) {
	l.t.Helper()
	nd := &Node{
		lab:   l,
		Index: i,
		Addr:  netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + i)}), 24),
		Addr6: netip.PrefixFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8:99::%x", 10+i)), 64),
	}
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x99, 0x00, byte(i)}
	nd.LinkLocal = linkLocal(mac)
	var err error
	nd.Node, err = l.lab.AddNode(netlab.NodeSpec{Suffix: fmt.Sprintf("n%d", i), Iface: NodeIface, MAC: mac, Addrs: []netip.Prefix{nd.Addr, nd.Addr6}})
	if err != nil {
		l.t.Fatal(err)
	}
	l.Nodes = append(l.Nodes, nd)
}

// linkLocal derives the EUI-64 link-local address the kernel assigns.
func linkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8] = mac[0] ^ 0x02
	b[9], b[10] = mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

// Node returns node i (1-based).
func (l *Lab) Node(i int) *Node { return l.Nodes[i-1] }

// MustExec runs a command in the node and fails the test on error.
func (n *Node) MustExec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WaitAddr polls until addr is present (or absent) on dev, or timeout
// passes. It returns how long that took.
func (n *Node) WaitAddr(dev string, addr netip.Addr, present bool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := netlab.Wait(context.Background(), timeout, 5*time.Millisecond, func() (bool, error) {
		has, err := n.HasAddr(dev, addr)
		return has == present, err
	})
	if err != nil {
		state := "absent"
		if present {
			state = "present"
		}
		err = fmt.Errorf("%s: %s not %s on %s: %w", n.Name, addr, state, dev, err)
	}
	return time.Since(start), err
}

// SetLink sets the node's lab interface up or down.
func (n *Node) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return netlab.IP("-n", n.Name, "link", "set", n.Iface, state)
}

// Holders returns the nodes that have addr on their lab interface.
func (l *Lab) Holders(addr netip.Addr) ([]*Node, error) {
	held, err := l.lab.Holders(addr)
	var out []*Node
	for _, nd := range l.Nodes {
		if slices.Contains(held[addr], nd.Node) {
			out = append(out, nd)
		}
	}
	return out, err
}

// WaitHolder polls until exactly want holds addr (want nil: nobody), or
// timeout passes.
func (l *Lab) WaitHolder(addr netip.Addr, want *Node, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last []*Node
	err := netlab.Wait(context.Background(), timeout, 5*time.Millisecond, func() (bool, error) {
		h, err := l.Holders(addr)
		last = h
		return want == nil && len(h) == 0 || want != nil && len(h) == 1 && h[0] == want, err
	})
	if err != nil {
		names := make([]string, len(last))
		for i, nd := range last {
			names[i] = nd.Name
		}
		wantName := "nobody"
		if want != nil {
			wantName = want.Name
		}
		err = fmt.Errorf("%s: want held by %s, held by %v: %w", addr, wantName, names, err)
	}
	return time.Since(start), err
}

// SetMulticastFlood lets the bridge deliver multicast (VRRP adverts) to
// node n, or stops it: a one-way partition of the multicast traffic
// towards n that leaves n's link up (a downed link would fault the VRRP
// instance instead of making it master). Broadcast (ARP) still flows.
func (l *Lab) SetMulticastFlood(n *Node, on bool) error {
	state := "off"
	if on {
		state = "on"
	}
	return netlab.IP("-n", l.BridgeNS, "link", "set", n.Port, "type", "bridge_slave", "mcast_flood", state)
}

// ServiceAddr is the segment's address for a service the nodes use that
// runs on no node (a Git server): it is on br0, in the bridge namespace.
var ServiceAddr = netip.MustParseAddr("10.99.0.2")

// ListenService puts ServiceAddr on br0 (once) and opens a TCP listener
// on it, any port, inside the bridge namespace: the nodes reach it over
// the segment, and nothing outside the lab can. The caller serves it
// from any goroutine; the socket stays in the namespace.
func (l *Lab) ListenService(t testing.TB) net.Listener {
	t.Helper()
	if !l.serviceUp {
		if err := netlab.IP("-n", l.BridgeNS, "addr", "add", netip.PrefixFrom(ServiceAddr, l.Subnet.Bits()).String(), "dev", "br0"); err != nil {
			t.Fatal(err)
		}
		l.serviceUp = true
	}
	var ln net.Listener
	if err := netlab.InNamespace(l.BridgeNS, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(ServiceAddr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

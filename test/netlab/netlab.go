// Package netlab builds a throwaway Ethernet segment out of network
// namespaces: a bridge namespace holding br0, and node namespaces joined
// to it by veth pairs with fixed MACs and addresses. `hakeeper demo` runs
// its cluster in one and the real-kernel tests (test/netns) theirs; each
// chooses its own names and addresses.
//
// Namespaces are reached through namespace-bound netlink handles or
// through `ip netns exec` child processes, never by switching the
// caller's own threads for longer than it takes to open a handle.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is one bridged segment with its node namespaces.
type Lab struct {
	// ID starts the name of every namespace the lab creates.
	ID string
	// BridgeNS is the namespace holding the bridge br0.
	BridgeNS string
	Nodes    []*Node

	created []string // namespaces, in creation order
}

// NodeSpec describes one node of a lab.
type NodeSpec struct {
	// Suffix names the node's namespace: ID-Suffix.
	Suffix string
	// Iface is the node's end of its veth pair.
	Iface string
	MAC   net.HardwareAddr
	// Addrs are added to Iface: IPv4 and IPv6, the latter without DAD.
	Addrs []netip.Prefix
}

// Node is one namespace attached to the lab's bridge.
type Node struct {
	// Name of the network namespace.
	Name  string
	Iface string
	MAC   net.HardwareAddr
	// Port is the bridge-side veth name.
	Port string

	mu     sync.Mutex
	handle *netlink.Handle
}

// IP runs the ip command, its output in the error.
func IP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// New creates the bridge namespace ID-br with br0 up. On error, Close
// removes whatever was created.
func New(id string) (*Lab, error) {
	l := &Lab{ID: id, BridgeNS: id + "-br"}
	if err := l.addNS(l.BridgeNS); err != nil {
		return l, err
	}
	for _, args := range [][]string{
		{"-n", l.BridgeNS, "link", "set", "lo", "up"},
		{"-n", l.BridgeNS, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0", "stp_state", "0", "forward_delay", "0"},
		// promisc: frames forwarded between two ports reach br0's own
		// packet sockets only in promiscuous mode (captures need them).
		{"-n", l.BridgeNS, "link", "set", "br0", "promisc", "on", "up"},
	} {
		if err := IP(args...); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (l *Lab) addNS(name string) error {
	if err := IP("netns", "add", name); err != nil {
		return err
	}
	l.created = append(l.created, name)
	return nil
}

// AddNode creates a node namespace, joins it to the bridge and brings its
// interface up with the spec's MAC and addresses. On error, Close removes
// whatever was created.
func (l *Lab) AddNode(spec NodeSpec) (*Node, error) {
	nd := &Node{
		Name:  l.ID + "-" + spec.Suffix,
		Iface: spec.Iface,
		MAC:   spec.MAC,
		Port:  fmt.Sprintf("p%d", len(l.Nodes)+1),
	}
	if err := l.addNS(nd.Name); err != nil {
		return nil, err
	}
	l.Nodes = append(l.Nodes, nd)
	for _, args := range [][]string{
		{"-n", nd.Name, "link", "set", "lo", "up"},
		{"-n", l.BridgeNS, "link", "add", nd.Port, "type", "veth", "peer", "name", nd.Iface, "netns", nd.Name},
		{"-n", l.BridgeNS, "link", "set", nd.Port, "master", "br0", "up"},
	} {
		if err := IP(args...); err != nil {
			return nil, err
		}
	}
	// DAD off: the link-local address must be usable at once (IPv6
	// adverts are sent from it). keep_addr_on_down: static IPv6
	// addresses survive a link flap, as IPv4 ones do (tests take links
	// down to simulate a dead machine and bring them back).
	for _, k := range []string{"all", "default", nd.Iface} {
		for _, s := range []string{"accept_dad=0", "keep_addr_on_down=1"} {
			if out, err := nd.Exec("sysctl", "-qw", "net.ipv6.conf."+k+"."+s); err != nil {
				return nil, fmt.Errorf("sysctl in %s: %v: %s", nd.Name, err, bytes.TrimSpace(out))
			}
		}
	}
	if err := IP("-n", nd.Name, "link", "set", nd.Iface, "address", nd.MAC.String()); err != nil {
		return nil, err
	}
	for _, a := range spec.Addrs {
		args := []string{"-n", nd.Name, "addr", "add", a.String(), "dev", nd.Iface}
		if a.Addr().Is6() {
			args = append(args, "nodad")
		}
		if err := IP(args...); err != nil {
			return nil, err
		}
	}
	if err := IP("-n", nd.Name, "link", "set", nd.Iface, "up"); err != nil {
		return nil, err
	}
	return nd, nil
}

// Close closes the nodes' handles and deletes every namespace the lab
// created, newest first, which ends their links. Processes still inside a
// namespace keep it alive until they exit: stop them first.
func (l *Lab) Close() error {
	for _, nd := range l.Nodes {
		nd.mu.Lock()
		if nd.handle != nil {
			nd.handle.Close()
			nd.handle = nil
		}
		nd.mu.Unlock()
	}
	var errs []error
	for i := len(l.created) - 1; i >= 0; i-- {
		if err := IP("netns", "del", l.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.created = nil
	return errors.Join(errs...)
}

// Command prepares a command run inside the node's namespace. `ip netns
// exec` execs the program in place, so the Cmd's pid is the program's.
func (n *Node) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Exec runs a command inside the node's namespace and returns its
// combined output.
func (n *Node) Exec(args ...string) ([]byte, error) {
	return n.Command(context.Background(), args...).CombinedOutput()
}

// Handle is a netlink handle bound to the node's namespace, opened once.
func (n *Node) Handle() (*netlink.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handle != nil {
		return n.handle, nil
	}
	ns, err := netns.GetFromName(n.Name)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", n.Name, err)
	}
	defer ns.Close()
	// Only NETLINK_ROUTE: the default family list includes XFRM, which
	// fails where xfrm_user is absent.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", n.Name, err)
	}
	n.handle = h
	return h, nil
}

// Addrs lists the addresses on a device in the node (all families,
// link-local included).
func (n *Node) Addrs(dev string) ([]netip.Prefix, error) {
	h, err := n.Handle()
	if err != nil {
		return nil, err
	}
	link, err := h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", n.Name, dev, err)
	}
	list, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("%s: addresses of %s: %w", n.Name, dev, err)
	}
	var out []netip.Prefix
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// HasAddr reports whether addr is on dev in the node.
func (n *Node) HasAddr(dev string, addr netip.Addr) (bool, error) {
	list, err := n.Addrs(dev)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}

// Holders returns, for each of addrs, the nodes that have it on their
// lab interface.
func (l *Lab) Holders(addrs ...netip.Addr) (map[netip.Addr][]*Node, error) {
	out := map[netip.Addr][]*Node{}
	for _, nd := range l.Nodes {
		have, err := nd.Addrs(nd.Iface)
		if err != nil {
			return nil, err
		}
		for _, p := range have {
			if slices.Contains(addrs, p.Addr()) {
				out[p.Addr()] = append(out[p.Addr()], nd)
			}
		}
	}
	return out, nil
}

// Wait calls cond every interval until it holds, it fails, ctx ends or
// timeout passes; the last two are errors.
func Wait(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not reached after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// InNamespace runs open on a thread switched into the network namespace
// named ns, for creating sockets there; it must not block. Sockets keep
// the namespace they were created in.
func InNamespace(ns string, open func() error) error {
	target, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	openErr := open()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: leave it locked so the
		// runtime discards it when this goroutine ends. Whatever open
		// created leaks; the caller fails anyway.
		return fmt.Errorf("restore namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return openErr
}

package vrrptest

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

var (
	_ vrrpd.Conn        = (*Conn)(nil)
	_ vrrpd.ConnFactory = (*Host)(nil)
)

// Packet is one payload written to the Network.
type Packet struct {
	Time     time.Time
	From     string // host name ("" for injected packets)
	Src, Dst netip.Addr
	TTL      int
	Payload  []byte
}

// Network is one broadcast segment. Multicast reaches every other host's
// Conns of the same family, unicast the host owning the destination.
// Packets carry TTL 255 unless injected otherwise. Hosts can be
// partitioned; Settle waits until every delivered packet was handled.
type Network struct {
	clock vrrpd.Clock
	mu    sync.Mutex
	cond  *sync.Cond
	conns map[*Conn]struct{}
	sent  []Packet
	// part maps a host to its partition; hosts talk only within one.
	part map[*Host]int
	drop func(Packet) bool
}

// NewNetwork returns an empty segment timestamping packets with clock.
func NewNetwork(clock vrrpd.Clock) *Network {
	n := &Network{clock: clock, conns: map[*Conn]struct{}{}, part: map[*Host]int{}}
	n.cond = sync.NewCond(&n.mu)
	return n
}

// Host is a node on the segment; it opens Conns for an engine.
type Host struct {
	n      *Network
	name   string
	addr4  netip.Addr
	addr6  netip.Addr // link-local, used for IPv6 multicast adverts
	extras []netip.Addr
}

// NewHost attaches a node with its IPv4 address and IPv6 link-local
// address (either may be zero) and any further unicast addresses.
func (n *Network) NewHost(name string, addr4, addr6 netip.Addr, extra ...netip.Addr) *Host {
	return &Host{n: n, name: name, addr4: addr4, addr6: addr6, extras: extra}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

func (h *Host) owns(a netip.Addr) bool {
	return a == h.addr4 || a == h.addr6 || slices.Contains(h.extras, a)
}

// Open returns a Conn on the segment. src, when valid, is the local address.
func (h *Host) Open(_ string, family model.Family, src netip.Addr) (vrrpd.Conn, error) {
	local := src
	if !local.IsValid() {
		local = h.addr4
		if family == model.IPv6 {
			local = h.addr6
		}
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("vrrptest: host %s has no %s address", h.name, family)
	}
	if !h.owns(local) {
		return nil, fmt.Errorf("vrrptest: host %s does not own %v", h.name, local)
	}
	c := &Conn{host: h, family: family, local: local}
	h.n.mu.Lock()
	h.n.conns[c] = struct{}{}
	h.n.mu.Unlock()
	return c, nil
}

// Partition splits the segment: each list of hosts can only reach hosts
// in the same list; hosts not listed form one more partition.
func (n *Network) Partition(groups ...[]*Host) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.part = map[*Host]int{}
	for i, g := range groups {
		for _, h := range g {
			n.part[h] = i + 1
		}
	}
}

// Heal removes every partition.
func (n *Network) Heal() { n.Partition() }

// SetDrop installs a filter; packets for which it returns true are lost.
func (n *Network) SetDrop(f func(Packet) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Sent returns every packet written by a host so far, in order.
func (n *Network) Sent() []Packet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Packet(nil), n.sent...)
}

// OpenConns returns how many Conns are open.
func (n *Network) OpenConns() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// Inject delivers payload as if sent from src (not a host on the
// segment) to dst with the given TTL.
func (n *Network) Inject(src, dst netip.Addr, ttl int, payload []byte) {
	n.InjectReceivedAt(n.clock.Now(), src, dst, ttl, payload)
}

// InjectReceivedAt is Inject for a packet the kernel stamped as received
// at (RecvMeta.Received), e.g. one the engine reads late.
func (n *Network) InjectReceivedAt(at time.Time, src, dst netip.Addr, ttl int, payload []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deliver(nil, Packet{Time: at, Src: src, Dst: dst, TTL: ttl, Payload: append([]byte(nil), payload...)})
}

// Settle blocks until every delivered packet has been read and handled
// (a Conn's reader counts a packet handled when it reads again).
func (n *Network) Settle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		busy := false
		for c := range n.conns {
			if c.busy || len(c.queue) > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		n.cond.Wait()
	}
}

// deliver queues p on every Conn that should see it; n.mu is held.
func (n *Network) deliver(from *Host, p Packet) {
	if n.drop != nil && n.drop(p) {
		return
	}
	multicast := p.Dst.IsMulticast()
	for c := range n.conns {
		if c.host == from || c.family == model.IPv4 != p.Src.Is4() {
			continue
		}
		if from != nil && n.part[c.host] != n.part[from] {
			continue
		}
		if !multicast && !c.host.owns(p.Dst) {
			continue
		}
		c.queue = append(c.queue, p)
	}
	n.cond.Broadcast()
}

// Conn is a fake VRRP socket of one host.
type Conn struct {
	host   *Host
	family model.Family
	local  netip.Addr
	// guarded by host.n.mu
	queue  []Packet
	busy   bool
	closed bool
}

// WriteTo sends payload to dst with TTL 255.
func (c *Conn) WriteTo(payload []byte, dst netip.Addr) error {
	n := c.host.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if _, err := packet.Decode(payload, c.local, dst); err != nil {
		return fmt.Errorf("vrrptest: host %s wrote an invalid advert: %w", c.host.name, err)
	}
	p := Packet{Time: n.clock.Now(), From: c.host.name, Src: c.local, Dst: dst, TTL: 255, Payload: append([]byte(nil), payload...)}
	n.sent = append(n.sent, p)
	n.deliver(c.host, p)
	return nil
}

// ReadFrom returns the next packet; calling it marks the previous one handled.
func (c *Conn) ReadFrom(buf []byte) (int, vrrpd.RecvMeta, error) {
	n := c.host.n
	n.mu.Lock()
	defer n.mu.Unlock()
	c.busy = false
	n.cond.Broadcast()
	for len(c.queue) == 0 && !c.closed {
		n.cond.Wait()
	}
	if c.closed {
		return 0, vrrpd.RecvMeta{}, net.ErrClosed
	}
	p := c.queue[0]
	c.queue = c.queue[1:]
	c.busy = true
	return copy(buf, p.Payload), vrrpd.RecvMeta{Src: p.Src, Dst: p.Dst, TTL: p.TTL, Received: p.Time}, nil
}

// LocalAddr returns the address the Conn sends from.
func (c *Conn) LocalAddr() netip.Addr { return c.local }

// Close wakes a blocked reader and drops queued packets.
func (c *Conn) Close() error {
	n := c.host.n
	n.mu.Lock()
	defer n.mu.Unlock()
	c.closed = true
	c.queue = nil
	c.busy = false
	delete(n.conns, c)
	n.cond.Broadcast()
	return nil
}

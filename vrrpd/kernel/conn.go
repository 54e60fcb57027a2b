package kernel

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

const (
	vrrpTTL = 255
	// tosInternetControl is the precedence keepalived marks adverts with.
	tosInternetControl = 0xc0
	// v6ChecksumOffset is where the checksum sits in a VRRP message; the
	// kernel fills it with the pseudo-header sum on send and checks it on
	// receive.
	v6ChecksumOffset = 6
)

// ConnFactory opens raw VRRP sockets in the current namespace.
type ConnFactory struct{}

var _ vrrpd.ConnFactory = ConnFactory{}

// Open opens a protocol-112 socket bound to ifname. With src valid
// (unicast mode) adverts are sent from src and the multicast group is not
// joined; otherwise they go from the interface's primary IPv4 address or
// IPv6 link-local address and the group is joined.
func (ConnFactory) Open(ifname string, family model.Family, src netip.Addr) (vrrpd.Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp socket: %w", err)
	}
	v6 := family == model.IPv6
	local := src
	if !local.IsValid() {
		if local, err = primaryAddr(ifname, v6); err != nil {
			return nil, err
		}
	}
	multicast := !src.IsValid()
	if v6 {
		return openV6(ifi, local, multicast)
	}
	return openV4(ifi, local, multicast)
}

// conn is a raw VRRP socket of either family, bound to the device, so
// only this interface's VRRP traffic reaches it.
type conn struct {
	ifi   *net.Interface
	local netip.Addr
	v6    bool
	raw   *net.IPConn
	oob   []byte // ReadFrom's; one reader per Conn
	// sendOOB is every advert's control message: the source address and
	// outgoing interface (IP_PKTINFO, IPV6_PKTINFO) and, for IPv6, the
	// hop limit.
	sendOOB []byte
}

var _ vrrpd.PendingConn = (*conn)(nil)

// listenRaw opens the socket, bound to ifi from before its first packet;
// extra sets the family's own options.
func listenRaw(network, laddr string, ifi *net.Interface, local netip.Addr, extra func(fd int) error) (*conn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.BindToDevice(int(fd), ifi.Name); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, serr)
				return
			}
			serr = extra(int(fd))
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("vrrp socket on %s: %w", ifi.Name, err)
	}
	return &conn{ifi: ifi, local: local, v6: network == "ip6:112", raw: pc.(*net.IPConn), oob: make([]byte, oobSize)}, nil
}

// configure runs the socket's set-up steps in order and closes it on the
// first failure.
func (c *conn) configure(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			c.raw.Close()
			return fmt.Errorf("vrrp socket on %s: %w", c.ifi.Name, err)
		}
	}
	return nil
}

// oobSize fits the IP control messages asked for and a timestamp.
var oobSize = max(len(ipv4.NewControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface)),
	len(ipv6.NewControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface))) + unix.CmsgSpace(16)

// enableTimestamps makes the kernel stamp each received packet
// (SCM_TIMESTAMPNS).
func enableTimestamps(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
}

// receiveTime returns the SCM_TIMESTAMPNS stamp in oob, or zero.
func receiveTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}

func (c *conn) LocalAddr() netip.Addr { return c.local }
func (c *conn) Close() error          { return c.raw.Close() }

// Pending reports whether a packet waits in the socket's receive queue:
// it asks the kernel for the size of the next queued datagram (SIOCINQ,
// alias FIONREAD). An error counts as nothing waiting, so the engine acts
// on its timer as it would without asking.
func (c *conn) Pending() bool {
	rc, err := c.raw.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	err = rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return err == nil && n > 0
}

func openV4(ifi *net.Interface, local netip.Addr, multicast bool) (vrrpd.Conn, error) {
	c, err := listenRaw("ip4:112", "0.0.0.0", ifi, local, func(fd int) error {
		// DF clear, like keepalived: an advert is never fragmented anyway,
		// and path-MTU state must not make the kernel refuse it.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT); err != nil {
			return err
		}
		return enableTimestamps(fd)
	})
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c.raw)
	steps := []func() error{
		func() error { return pc.SetTOS(tosInternetControl) },
		func() error { return pc.SetTTL(vrrpTTL) },
		func() error { return pc.SetMulticastTTL(vrrpTTL) },
		func() error { return pc.SetMulticastLoopback(false) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true) },
	}
	if multicast {
		steps = append(steps, func() error { return pc.JoinGroup(ifi, &net.IPAddr{IP: packet.Group4.AsSlice()}) })
	}
	if err := c.configure(steps...); err != nil {
		return nil, err
	}
	c.sendOOB = (&ipv4.ControlMessage{Src: local.AsSlice(), IfIndex: ifi.Index}).Marshal()
	return c, nil
}

func openV6(ifi *net.Interface, local netip.Addr, multicast bool) (vrrpd.Conn, error) {
	c, err := listenRaw("ip6:112", "::", ifi, local, enableTimestamps)
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c.raw)
	steps := []func() error{
		func() error { return pc.SetTrafficClass(tosInternetControl) },
		func() error { return pc.SetHopLimit(vrrpTTL) },
		func() error { return pc.SetMulticastHopLimit(vrrpTTL) },
		func() error { return pc.SetMulticastLoopback(false) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetChecksum(true, v6ChecksumOffset) },
		func() error {
			return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		},
	}
	if multicast {
		steps = append(steps, func() error { return pc.JoinGroup(ifi, &net.IPAddr{IP: packet.Group6.AsSlice()}) })
	}
	if err := c.configure(steps...); err != nil {
		return nil, err
	}
	c.sendOOB = (&ipv6.ControlMessage{Src: local.AsSlice(), IfIndex: ifi.Index, HopLimit: vrrpTTL}).Marshal()
	return c, nil
}

// WriteTo sends with sendOOB, as ipv4.PacketConn and ipv6.PacketConn
// would with its control message. A link-local IPv6 dst needs no zone:
// the control message's interface index is the outgoing interface.
func (c *conn) WriteTo(payload []byte, dst netip.Addr) error {
	_, _, err := c.raw.WriteMsgIP(payload, c.sendOOB, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// ReadFrom reads through the socket itself rather than ipv4.PacketConn
// or ipv6.PacketConn, which size their control buffer for the IP options
// only and so drop the receive timestamp.
func (c *conn) ReadFrom(buf []byte) (int, vrrpd.RecvMeta, error) {
	for {
		n, oobn, _, src, err := c.raw.ReadMsgIP(buf, c.oob)
		if err != nil {
			return 0, vrrpd.RecvMeta{}, err
		}
		oob := c.oob[:oobn]
		var ttl, ifIndex int
		var dst net.IP
		if c.v6 {
			var cm ipv6.ControlMessage
			if err := cm.Parse(oob); err != nil {
				continue
			}
			ttl, dst, ifIndex = cm.HopLimit, cm.Dst, cm.IfIndex
		} else {
			// A raw IPv4 socket returns the IP header too.
			if n < ipv4.HeaderLen {
				continue
			}
			hdrLen := int(buf[0]&0x0f) << 2
			if hdrLen < ipv4.HeaderLen || hdrLen > n {
				continue
			}
			n = copy(buf, buf[hdrLen:n])
			var cm ipv4.ControlMessage
			if err := cm.Parse(oob); err != nil {
				continue
			}
			ttl, dst, ifIndex = cm.TTL, cm.Dst, cm.IfIndex
		}
		if ifIndex != 0 && ifIndex != c.ifi.Index {
			continue // bound to the device, but be sure
		}
		meta := vrrpd.RecvMeta{TTL: ttl, Received: receiveTime(oob)}
		if src != nil {
			meta.Src, _ = netip.AddrFromSlice(src.IP)
		}
		meta.Dst, _ = netip.AddrFromSlice(dst)
		if !c.v6 {
			// IPv4 addresses may come in their 16-byte form.
			meta.Src, meta.Dst = meta.Src.Unmap(), meta.Dst.Unmap()
		}
		return n, meta, nil
	}
}

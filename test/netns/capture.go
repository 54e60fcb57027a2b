package netns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// EtherType values the capture keeps.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// Frame is one captured Ethernet frame with its kernel receive time.
type Frame struct {
	Time      time.Time
	Data      []byte // the whole frame, Ethernet header included
	Src, Dst  net.HardwareAddr
	EtherType uint16
	// For IPv4/IPv6: network-layer fields.
	IPSrc, IPDst netip.Addr
	Proto        uint8 // IPv4 protocol or IPv6 next header (no extension headers)
	TTL          uint8 // TTL or hop limit
	TOS          uint8 // TOS or traffic class
	DF           bool  // IPv4 don't-fragment flag
	Payload      []byte
}

// IsVRRP reports an IPv4 or IPv6 packet with protocol 112.
func (f *Frame) IsVRRP() bool {
	return (f.EtherType == EtherTypeIPv4 || f.EtherType == EtherTypeIPv6) && f.Proto == 112
}

// IsARP reports an ARP frame.
func (f *Frame) IsARP() bool { return f.EtherType == EtherTypeARP }

// IsNA reports an ICMPv6 neighbour advertisement.
func (f *Frame) IsNA() bool {
	return f.EtherType == EtherTypeIPv6 && f.Proto == 58 && len(f.Payload) > 0 && f.Payload[0] == 136
}

// GARPFor reports a gratuitous ARP request for ip (sender = target = ip).
func (f *Frame) GARPFor(ip netip.Addr) bool {
	if !f.IsARP() || len(f.Payload) < 28 {
		return false
	}
	p := f.Payload
	op := binary.BigEndian.Uint16(p[6:8])
	spa, _ := netip.AddrFromSlice(p[14:18])
	tpa, _ := netip.AddrFromSlice(p[24:28])
	return op == 1 && spa == ip && tpa == ip
}

// NAFor reports a neighbour advertisement whose target is ip.
func (f *Frame) NAFor(ip netip.Addr) bool {
	if !f.IsNA() || len(f.Payload) < 24 {
		return false
	}
	tgt, _ := netip.AddrFromSlice(f.Payload[8:24])
	return tgt == ip
}

// Capture records VRRP, ARP and ICMPv6 frames seen by the lab's bridge.
type Capture struct {
	fd     int
	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
	exited chan struct{}
}

// Capture starts capturing on br0 in the bridge namespace until cleanup.
func (l *Lab) Capture(t testing.TB) *Capture {
	t.Helper()
	fd, err := packetSocketAt(l.BridgeNS, "br0")
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	c := &Capture{fd: fd, done: make(chan struct{}), exited: make(chan struct{})}
	go c.loop()
	t.Cleanup(c.Close)
	return c
}

// packetSocketAt opens an AF_PACKET socket bound to dev inside namespace
// ns. The socket stays bound to that namespace after the thread returns
// to its own, which is the same technique netlink.NewHandleAt uses.
func packetSocketAt(ns, dev string) (int, error) {
	fd, ifindex := -1, 0
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		ifindex = ifi.Index
		return err
	})
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := setRecvTimeout(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// setRecvTimeout makes blocking reads return now and then, so a reading
// loop notices that it was closed.
func setRecvTimeout(fd int) error {
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// inNamespace runs open on a thread switched into namespace ns
// (netlab.InNamespace); it must not block.
func inNamespace(ns string, open func() error) error { return netlab.InNamespace(ns, open) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *Capture) loop() {
	// The loop owns the fd so Close cannot race a Recvmsg on a reused fd.
	defer close(c.exited)
	defer unix.Close(c.fd)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // br0 sends nothing of interest; avoid duplicates
		}
		ts := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					ts = time.Unix(sec, nsec)
				}
			}
		}
		f, ok := parseFrame(buf[:n])
		if !ok {
			continue
		}
		f.Time = ts
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
	}
}

// parseFrame decodes the headers and keeps only ARP, VRRP and ICMPv6.
func parseFrame(b []byte) (Frame, bool) {
	if len(b) < 14 {
		return Frame{}, false
	}
	f := Frame{
		Data:      append([]byte(nil), b...),
		Dst:       net.HardwareAddr(append([]byte(nil), b[0:6]...)),
		Src:       net.HardwareAddr(append([]byte(nil), b[6:12]...)),
		EtherType: binary.BigEndian.Uint16(b[12:14]),
	}
	p := f.Data[14:]
	switch f.EtherType {
	case EtherTypeARP:
		f.Payload = p
		return f, true
	case EtherTypeIPv4:
		if len(p) < 20 {
			return f, false
		}
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:4]))
		if ihl < 20 || total < ihl || len(p) < total {
			return f, false
		}
		f.TOS = p[1]
		f.DF = p[6]&0x40 != 0
		f.TTL = p[8]
		f.Proto = p[9]
		f.IPSrc, _ = netip.AddrFromSlice(p[12:16])
		f.IPDst, _ = netip.AddrFromSlice(p[16:20])
		f.Payload = p[ihl:total]
		return f, f.Proto == 112
	case EtherTypeIPv6:
		if len(p) < 40 {
			return f, false
		}
		plen := int(binary.BigEndian.Uint16(p[4:6]))
		if len(p) < 40+plen {
			return f, false
		}
		f.TOS = byte(binary.BigEndian.Uint16(p[0:2]) >> 4)
		f.Proto = p[6]
		f.TTL = p[7]
		f.IPSrc, _ = netip.AddrFromSlice(p[8:24])
		f.IPDst, _ = netip.AddrFromSlice(p[24:40])
		f.Payload = p[40 : 40+plen]
		return f, f.Proto == 112 || f.Proto == 58
	}
	return f, false
}

// Frames returns a copy of everything captured so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Since returns the frames captured at or after t that match.
func (c *Capture) Since(t time.Time, match func(*Frame) bool) []Frame {
	var out []Frame
	for _, f := range c.Frames() {
		if !f.Time.Before(t) && (match == nil || match(&f)) {
			out = append(out, f)
		}
	}
	return out
}

// Wait polls until a frame captured at or after t matches, or timeout.
func (c *Capture) Wait(t time.Time, match func(*Frame) bool, timeout time.Duration) (Frame, error) {
	deadline := time.Now().Add(timeout)
	for {
		if fs := c.Since(t, match); len(fs) > 0 {
			return fs[0], nil
		}
		if time.Now().After(deadline) {
			return Frame{}, fmt.Errorf("no matching frame within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close stops the capture.
func (c *Capture) Close() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	<-c.exited
}

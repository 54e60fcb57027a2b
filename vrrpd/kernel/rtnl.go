package kernel

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
)

// addrAdder sends RTM_NEWADDR requests on its own blocking rtnetlink
// socket, for the one request on a new master's path. The netlink
// library's request costs ~0.2 ms more there, cold: a 64 KiB receive
// buffer allocated per request, a getsockname per request, and the
// reply read through the netpoller. Here the request is built in a
// reused buffer and the ack read with one recvfrom(2).
type addrAdder struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	req []byte
	buf []byte
}

// ackTimeout bounds the wait for the kernel's ack, which it sends before
// sendto(2) returns; a missing one means the socket is broken.
const ackTimeout = time.Second

// newAddrAdder opens the socket in the current namespace.
func newAddrAdder() (*addrAdder, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(ackTimeout))
	setup := []error{
		unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}),
		// Acks without a copy of the request.
		unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	}
	for _, err := range setup {
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("rtnetlink socket: %w", err)
		}
	}
	return &addrAdder{fd: fd, req: make([]byte, 0, 128), buf: make([]byte, 4096)}, nil
}

// newAddrAdderAt opens the socket in namespace ns.
func newAddrAdderAt(ns vnetns.NsHandle) (*addrAdder, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := vnetns.Get()
	if err != nil {
		return nil, err
	}
	defer cur.Close()
	if err := vnetns.Set(ns); err != nil {
		return nil, err
	}
	a, err := newAddrAdder()
	if serr := vnetns.Set(cur); serr != nil {
		// This thread is in the wrong namespace: let it die with the
		// goroutine rather than serve others (no UnlockOSThread).
		runtime.LockOSThread()
		if a != nil {
			a.close()
		}
		return nil, serr
	}
	return a, err
}

func (a *addrAdder) close() { unix.Close(a.fd) }

// add sends RTM_NEWADDR for vip on interface index; exclusive makes a
// present address an EEXIST error, otherwise it is replaced. The message
// is what ip(8) and the netlink library send: IFA_LOCAL and IFA_ADDRESS
// both the address, the broadcast address for IPv4 prefixes up to /30,
// the label for IPv4, no duplicate address detection for IPv6.
func (a *addrAdder) add(index int, vip model.VIPSpec, exclusive bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	addr := vip.Prefix.Addr()
	family, flags := uint8(unix.AF_INET), uint8(0)
	if addr.Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	nlFlags := uint16(unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE)
	if exclusive {
		nlFlags |= unix.NLM_F_EXCL
	} else {
		nlFlags |= unix.NLM_F_REPLACE
	}
	b := a.req[:0]
	b = binary.NativeEndian.AppendUint32(b, 0) // length, set below
	b = binary.NativeEndian.AppendUint16(b, unix.RTM_NEWADDR)
	b = binary.NativeEndian.AppendUint16(b, nlFlags)
	b = binary.NativeEndian.AppendUint32(b, a.seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel fills it
	b = append(b, family, uint8(vip.Prefix.Bits()), flags, unix.RT_SCOPE_UNIVERSE)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	ip := addr.AsSlice()
	b = appendAttr(b, unix.IFA_LOCAL, ip)
	b = appendAttr(b, unix.IFA_ADDRESS, ip)
	if addr.Is4() {
		if bits := vip.Prefix.Bits(); bits < 31 {
			bcast := addr.As4()
			host := ^uint32(0) >> bits
			binary.BigEndian.PutUint32(bcast[:], binary.BigEndian.Uint32(bcast[:])|host)
			b = appendAttr(b, unix.IFA_BROADCAST, bcast[:])
		}
		if vip.Label != "" {
			b = appendAttr(b, unix.IFA_LABEL, append([]byte(vip.Label), 0))
		}
	}
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	a.req = b
	if err := unix.Sendto(a.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	return a.ack()
}

// ack reads until the ack of the last request and returns its error.
func (a *addrAdder) ack() error {
	for {
		n, _, err := unix.Recvfrom(a.fd, a.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("rtnetlink ack: %w", err)
		}
		msgs := a.buf[:n]
		for len(msgs) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(msgs[0:4]))
			if l < unix.SizeofNlMsghdr || l > len(msgs) {
				return fmt.Errorf("rtnetlink ack: malformed message")
			}
			typ := binary.NativeEndian.Uint16(msgs[4:6])
			seq := binary.NativeEndian.Uint32(msgs[8:12])
			if typ == unix.NLMSG_ERROR && seq == a.seq && l >= unix.SizeofNlMsghdr+4 {
				if errno := -int32(binary.NativeEndian.Uint32(msgs[16:20])); errno != 0 {
					return unix.Errno(errno)
				}
				return nil
			}
			// A late ack of an earlier request that timed out: skip it.
			msgs = msgs[min(nlmAlign(l), len(msgs)):]
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

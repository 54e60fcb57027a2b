package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// addrUpdate is one RTM_NEWADDR or RTM_DELADDR read from a namespace,
// stamped when the reading loop received it. Netlink sockets carry no
// kernel timestamp (SO_TIMESTAMPNS gives no control message on them),
// so the stamp trails the kernel by the loop's wake-up latency: well
// under 1 ms on an idle machine, more when the test process waits for
// a CPU.
type addrUpdate struct {
	Time   time.Time
	Index  int // interface index
	Prefix netip.Prefix
	Added  bool
	// Existing marks an address that was there when the subscription
	// began (an answer to its initial dump), not a change.
	Existing bool
}

// addrSubscription reads one namespace's address notifications until
// closed. Its reading loop owns the socket, as Capture's does.
type addrSubscription struct {
	fd     int
	done   chan struct{}
	exited chan struct{}
}

// subscribeAddrs joins the namespace's IPv4 and IPv6 address groups,
// then asks for a dump of the addresses present: the dump's answers
// queue behind any change made after joining, so nothing falls between
// the initial state and the notifications. fn runs on the reading loop
// for each update; onErr for anything that makes the record incomplete
// (a socket overrun, a netlink error).
func subscribeAddrs(ns string, fn func(addrUpdate), onErr func(error)) (*addrSubscription, error) {
	fd := -1
	err := inNamespace(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket in %s: %w", ns, err)
	}
	groups := uint32(unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind in %s: %w", ns, err)
	}
	if err := setRecvTimeout(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// nlmsghdr + ifaddrmsg (family AF_UNSPEC: both families).
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfAddrmsg)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], unix.RTM_GETADDR)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], 1)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("address dump in %s: %w", ns, err)
	}
	s := &addrSubscription{fd: fd, done: make(chan struct{}), exited: make(chan struct{})}
	go s.loop(fn, onErr)
	return s, nil
}

func (s *addrSubscription) loop(fn func(addrUpdate), onErr func(error)) {
	defer close(s.exited)
	defer unix.Close(s.fd)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-s.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		now := time.Now()
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err == unix.ENOBUFS {
				onErr(errors.New("address notifications lost (netlink socket overrun)"))
				continue
			}
			onErr(fmt.Errorf("reading address notifications: %w", err))
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			onErr(fmt.Errorf("parsing address notifications: %w", err))
			continue
		}
		for i := range msgs {
			m := &msgs[i]
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
						onErr(fmt.Errorf("netlink error: %w", syscall.Errno(-code)))
					}
				}
				continue
			case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			default:
				continue
			}
			u, ok := parseAddrMsg(m)
			if !ok {
				continue
			}
			u.Time = now
			u.Existing = m.Header.Flags&unix.NLM_F_MULTI != 0
			fn(u)
		}
	}
}

// parseAddrMsg decodes an ifaddrmsg and its address attribute: IFA_LOCAL
// where present (on a point-to-point link IFA_ADDRESS is the peer's),
// IFA_ADDRESS otherwise.
func parseAddrMsg(m *syscall.NetlinkMessage) (addrUpdate, bool) {
	if len(m.Data) < unix.SizeofIfAddrmsg {
		return addrUpdate{}, false
	}
	bits := int(m.Data[1])
	index := int(binary.NativeEndian.Uint32(m.Data[4:8]))
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return addrUpdate{}, false
	}
	var addr, local netip.Addr
	for _, a := range attrs {
		ip, ok := netip.AddrFromSlice(a.Value)
		if !ok {
			continue
		}
		switch a.Attr.Type {
		case unix.IFA_ADDRESS:
			addr = ip
		case unix.IFA_LOCAL:
			local = ip
		}
	}
	if local.IsValid() {
		addr = local
	}
	if !addr.IsValid() {
		return addrUpdate{}, false
	}
	return addrUpdate{Index: index, Prefix: netip.PrefixFrom(addr.Unmap(), bits), Added: m.Header.Type == unix.RTM_NEWADDR}, true
}

// Close stops the reading loop and waits for it.
func (s *addrSubscription) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	<-s.exited
}

// AddrEvent is one address added to or removed from a node's interface,
// stamped when the test received the rtnetlink notification (see
// addrUpdate for how far the stamp may trail the kernel).
type AddrEvent struct {
	Time  time.Time
	Addr  netip.Addr
	Added bool
}

// AddrWatch records every address change in a node's namespace.
type AddrWatch struct {
	mu     sync.Mutex
	events []AddrEvent
	err    error
}

// WatchAddrs subscribes to the node's address notifications until cleanup.
func (n *Node) WatchAddrs(t testing.TB) *AddrWatch {
	t.Helper()
	w := &AddrWatch{}
	sub, err := subscribeAddrs(n.Name, func(u addrUpdate) {
		if u.Existing {
			return
		}
		w.mu.Lock()
		w.events = append(w.events, AddrEvent{Time: u.Time, Addr: u.Prefix.Addr(), Added: u.Added})
		w.mu.Unlock()
	}, func(err error) {
		w.mu.Lock()
		if w.err == nil {
			w.err = fmt.Errorf("%s: %w", n.Name, err)
		}
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return w
}

// Added returns when addr was first added at or after since.
func (w *AddrWatch) Added(addr netip.Addr, since time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.Added && e.Addr == addr && !e.Time.Before(since) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// WaitAdded polls until addr was added at or after since, or timeout.
func (w *AddrWatch) WaitAdded(addr netip.Addr, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if at, ok := w.Added(addr, since); ok {
			return at, nil
		}
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s not added within %v", addr, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

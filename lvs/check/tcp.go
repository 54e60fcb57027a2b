package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpDialer connects for tcp checks run through their Probe (the daemon's
// own tcp checks run in raw-socket batches, batch.go). Linger 0, set
// before connecting, makes closing the connection a reset rather than a
// FIN handshake, so checks leave no TIME_WAIT sockets on the director.
var tcpDialer = net.Dialer{
	KeepAlive: -1,
	Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}); cerr != nil {
			return cerr
		}
		return err
	},
}

// newTCP passes when a TCP connection to the target is established within
// the timeout. Nothing is sent; the connection is reset at once.
func newTCP() Probe {
	return func(ctx context.Context, t Target) Result {
		if !t.Address.IsValid() {
			return Result{Err: fmt.Errorf("dial tcp %s: no address", t)}
		}
		start := time.Now()
		c, err := tcpDialer.DialContext(ctx, "tcp", t.String())
		lat := time.Since(start)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
				// Worded as a batch words it, not as net's "i/o timeout":
				// "timed out: dial tcp …: context deadline exceeded".
				err = fmt.Errorf("timed out: %w", dialError(t, cmp.Or(ctx.Err(), context.DeadlineExceeded)))
			}
			return Result{Err: err, Latency: lat}
		}
		c.Close()
		return Result{Latency: lat}
	}
}

// The batches' sockets are non-blocking, so socket, setsockopt, connect,
// a zero-timeout poll and close (with linger 0: a reset, no wait) never
// block; they are made as raw system calls. A blocking-style call would
// tell the runtime the thread may block, and the runtime's monitor hands
// the thread's processor to another thread when one lasts over 20µs —
// which a loopback connect (doing both ends' handshake) often does —
// costing thread wake-ups and context switches on every check.

// tcpFamily is the socket family for connecting to t.
func tcpFamily(t Target) int {
	if t.Address.Unmap().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// tcpSocket opens a non-blocking TCP socket with linger 0, set before
// connecting so even a close racing the handshake resets.
func tcpSocket(family int) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if errno != 0 {
		return -1, os.NewSyscallError("socket", errno)
	}
	fd := int(r)
	linger := unix.Linger{Onoff: 1, Linger: 0}
	if _, _, errno := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER, uintptr(unsafe.Pointer(&linger)), unsafe.Sizeof(linger), 0); errno != 0 {
		rawClose(fd)
		return -1, os.NewSyscallError("setsockopt", errno)
	}
	return fd, nil
}

// tcpDial starts connecting socket fd (of t's family) to t. It reports
// whether the handshake is in progress; if not, err is the outcome (nil:
// connected).
func tcpDial(fd int, t Target) (inProgress bool, err error) {
	var (
		sa4     unix.RawSockaddrInet4
		sa6     unix.RawSockaddrInet6
		sa      unsafe.Pointer
		saLen   uintptr
		port    = [2]byte{byte(t.Port >> 8), byte(t.Port)}
		netPort = *(*uint16)(unsafe.Pointer(&port))
	)
	if a := t.Address.Unmap(); a.Is4() {
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: netPort, Addr: a.As4()}
		sa, saLen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: netPort, Addr: t.Address.As16(), Scope_id: zoneID(t)}
		sa, saLen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), saLen)
	runtime.KeepAlive(&sa4)
	runtime.KeepAlive(&sa6)
	switch errno {
	case 0:
		return false, nil
	case unix.EINPROGRESS, unix.EINTR:
		return true, nil
	default:
		return false, dialError(t, os.NewSyscallError("connect", errno))
	}
}

// tcpDisconnect makes socket fd reusable for another connect: connect to
// AF_UNSPEC is the disconnect that close does for a linger-0 socket (a
// reset for a connection, nothing on the wire otherwise), without
// tearing down and recreating the socket. Reading SO_ERROR clears the
// error the disconnect leaves, so the next connect polls clean.
func tcpDisconnect(fd int) bool {
	unspec := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	if _, _, errno := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec)); errno != 0 {
		return false
	}
	var soErr int32
	size := uint32(unsafe.Sizeof(soErr))
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&soErr)), uintptr(unsafe.Pointer(&size)), 0)
	return errno == 0
}

// rawClose closes a socket of ours that has linger 0: the kernel resets
// the connection and returns at once.
func rawClose(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// connectResult is the outcome of a non-blocking connect on fd: nil when
// connected, EINPROGRESS while the handshake runs, else why it failed.
func connectResult(fd int) error {
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	switch e := syscall.Errno(soErr); e {
	case 0:
		// Writable with no error can be a spurious wake-up; connected
		// means the peer is known.
		if _, err := unix.Getpeername(fd); err != nil {
			return unix.EINPROGRESS
		}
		return nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return unix.EINPROGRESS
	default:
		return os.NewSyscallError("connect", e)
	}
}

// zoneID is the interface index of a link-local target's zone.
func zoneID(t Target) uint32 {
	z := t.Address.Zone()
	if z == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(z); err == nil {
		return uint32(ifi.Index)
	}
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n)
	}
	return 0
}

// dialError words a failure like net.Dial does ("dial tcp 192.0.2.1:80:
// connect: connection refused"), so messages stay as operators know them.
func dialError(t Target, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("dial tcp %s: %w", t, err)
}

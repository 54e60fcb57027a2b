package check

import (
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

// newTCP passes when a TCP connection to the target is established within
// the timeout. Nothing is sent. The connection is closed with a reset
// (linger 0) rather than a FIN handshake, so thousands of checks a second
// leave no TIME_WAIT sockets on the director.
//
// It works on the socket directly rather than through net.Dialer: a check
// needs only socket, connect and close, while a net.Conn also costs
// address lookups, getsockname/getpeername, TCP_NODELAY, a poller
// registration and a wake-up through it. Only a connect still in progress
// after one non-blocking look is handed to the runtime's poller to wait.
// BenchmarkCheckerVsKeepalived (make bench) shows whether that is still
// worth it.
func newTCP() Probe {
	return func(ctx context.Context, t Target) Result {
		start := time.Now()
		err := tcpConnect(ctx, t)
		lat := time.Since(start)
		if err != nil {
			return Result{Err: timeoutErr(ctx, err), Latency: lat}
		}
		return Result{Latency: lat}
	}
}

// tcpConnect connects to t and resets the connection.
//
// The socket is non-blocking, so socket, setsockopt, connect, a zero
// timeout poll and close (with linger 0: a reset, no wait) never block;
// they are made as raw system calls. A blocking-style call would tell the
// runtime the thread may block, and the runtime's monitor hands the
// thread's processor to another thread when one lasts over 20µs — which
// a loopback connect (doing both ends' handshake) often does — costing
// thread wake-ups and context switches on every check.
func tcpConnect(ctx context.Context, t Target) error {
	fd, err := tcpStart(t)
	if fd < 0 {
		return err
	}
	// One look without waiting: a server on this host (or the listener's
	// half of the handshake done in this thread) has answered already.
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	var zero unix.Timespec
	n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno == 0 && n == 1 {
		var err error
		if pfd.Revents != unix.POLLOUT {
			err = connectResult(fd) // POLLERR, POLLHUP: read the error
		}
		rawClose(fd)
		return dialError(t, err)
	}
	// Still in progress: wait in the runtime's poller until connected, the
	// timeout (ctx's deadline) or cancellation. f owns and closes fd.
	f := os.NewFile(uintptr(fd), "tcp-check")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return dialError(t, err)
	}
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var result error
	werr := rc.Write(func(fd uintptr) bool {
		result = connectResult(int(fd))
		return !errors.Is(result, unix.EINPROGRESS)
	})
	if werr != nil {
		if ctx.Err() != nil {
			return dialError(t, ctx.Err())
		}
		return dialError(t, werr)
	}
	return dialError(t, result)
}

// tcpStart opens a non-blocking socket with linger 0 and starts
// connecting it to t, all as raw system calls (see tcpConnect). It returns
// the socket while the handshake is in progress, or -1 and the outcome
// when the connect finished at once (nil error: connected, already reset).
func tcpStart(t Target) (int, error) {
	if !t.Address.IsValid() {
		return -1, fmt.Errorf("dial tcp %s: no address", t)
	}
	fd, err := tcpSocket(tcpFamily(t))
	if err != nil {
		return -1, dialError(t, err)
	}
	inProgress, err := tcpDial(fd, t)
	if inProgress {
		return fd, nil
	}
	rawClose(fd)
	return -1, err
}

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

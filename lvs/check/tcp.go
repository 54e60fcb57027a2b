package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

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
func tcpConnect(ctx context.Context, t Target) error {
	if !t.Address.IsValid() {
		return fmt.Errorf("dial tcp %s: no address", t)
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if a := t.Address.Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(t.Port), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(t.Port), Addr: t.Address.As16(), ZoneId: zoneID(t)}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return dialError(t, os.NewSyscallError("socket", err))
	}
	// Set before connecting, so even a close racing the handshake resets.
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		unix.Close(fd)
		return dialError(t, os.NewSyscallError("setsockopt", err))
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
		unix.Close(fd)
		return nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		unix.Close(fd)
		return dialError(t, os.NewSyscallError("connect", err))
	}
	// One look without waiting: a server on this host (or the listener's
	// half of the handshake done in this thread) has answered already.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if n, err := unix.Poll(pfd, 0); err == nil && n == 1 {
		var err error
		if pfd[0].Revents != unix.POLLOUT {
			err = connectResult(fd) // POLLERR, POLLHUP: read the error
		}
		unix.Close(fd)
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

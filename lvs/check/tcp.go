package check

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpDialer connects for tcp checks. Linger 0 makes closing the
// connection a reset rather than a FIN handshake, so thousands of checks
// a second leave no TIME_WAIT sockets on the director; it is set before
// connecting, so even a close racing the handshake resets. A check
// connection lives for one handshake: no keepalive.
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
		start := time.Now()
		c, err := tcpDialer.DialTCP(ctx, "tcp", netip.AddrPort{}, t.AddrPort())
		lat := time.Since(start)
		if err != nil {
			return Result{Err: timeoutErr(ctx, err), Latency: lat}
		}
		c.Close()
		return Result{Latency: lat}
	}
}

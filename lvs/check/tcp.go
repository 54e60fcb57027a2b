package check

import (
	"context"
	"net"
	"time"
)

// newTCP passes when a TCP connection to the target is established within
// the timeout. Nothing is sent. The connection is closed with a reset
// (linger 0) rather than a FIN handshake, so thousands of checks a second
// leave no TIME_WAIT sockets on the director; keepalive is off because
// the connection lives for microseconds.
func newTCP() Probe {
	d := net.Dialer{KeepAlive: -1}
	return func(ctx context.Context, t Target) Result {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", t.String())
		lat := time.Since(start)
		if err != nil {
			return Result{Err: timeoutErr(ctx, err), Latency: lat}
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		return Result{Latency: lat}
	}
}

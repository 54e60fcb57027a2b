package check

import (
	"context"
	"net"
	"time"
)

// newTCP passes when a TCP connection to the target is established within
// the timeout. The connection is closed at once; nothing is sent.
func newTCP() Probe {
	var d net.Dialer
	return func(ctx context.Context, t Target) Result {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", t.String())
		lat := time.Since(start)
		if err != nil {
			return Result{Err: timeoutErr(ctx, err), Latency: lat}
		}
		c.Close()
		return Result{Latency: lat}
	}
}

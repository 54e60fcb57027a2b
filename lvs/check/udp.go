package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// maxDatagram is the largest UDP reply a check reads.
const maxDatagram = 64 << 10

// udpProbe sends Payload from a connected UDP socket, so the kernel
// reports an ICMP port unreachable for it as ECONNREFUSED on the next read.
//   - With Expect set, it passes when a reply containing Expect arrives
//     before the timeout; other replies are skipped.
//   - With RequireReply set, any reply passes and silence fails.
//   - Otherwise silence until the timeout passes (UDP services need not
//     answer), a reply passes at once, and only a port unreachable fails.
//     Such a check therefore takes the whole timeout on a silent server.
type udpProbe struct {
	spec model.UDPCheck
}

func newUDP(spec *model.UDPCheck) (Probe, error) {
	p := &udpProbe{}
	if spec != nil {
		p.spec = *spec
	}
	return p.run, nil
}

func (p *udpProbe) run(ctx context.Context, t Target) Result {
	start := time.Now()
	fail := func(err error) Result { return Result{Err: err, Latency: time.Since(start)} }
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", t.String())
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// Unblock the read when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write([]byte(p.spec.Payload)); err != nil {
		return fail(udpError(err))
	}
	wantReply := p.spec.Expect != "" || p.spec.RequireReply
	buf := make([]byte, maxDatagram)
	// A datagram without Expect (a late reply to an earlier check, say)
	// does not end the check: the right one may still come before the
	// timeout. The last such reply is what the failure reports.
	var mismatch error
	for {
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if mismatch != nil {
					return fail(mismatch)
				}
				if wantReply {
					return fail(errors.New("no reply before the timeout"))
				}
				// Silence without an ICMP error: the port is open.
				return Result{Latency: time.Since(start)}
			}
			return fail(udpError(err))
		}
		if p.spec.Expect == "" || bytes.Contains(buf[:n], []byte(p.spec.Expect)) {
			return Result{Latency: time.Since(start)}
		}
		mismatch = fmt.Errorf("reply %q does not contain %q", snippet(buf[:n]), p.spec.Expect)
	}
}

// snippet shortens a reply for an error message.
func snippet(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func udpError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errors.New("port unreachable (ICMP)")
	}
	return err
}

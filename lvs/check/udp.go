package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// maxDatagram is the largest UDP reply a check reads.
const maxDatagram = 64 << 10

// udpProbe is the udp check, as the package doc describes. Silence
// passes a plain check because UDP services need not answer.
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
	c, closeConn, err := sendUDP(ctx, t, []byte(p.spec.Payload))
	if err != nil {
		return fail(err)
	}
	defer closeConn()
	wantReply := p.spec.Expect != "" || p.spec.RequireReply
	buf := make([]byte, maxDatagram)
	// A datagram without Expect (a late reply to an earlier check, say)
	// does not end the check: the right one may still come before the
	// timeout. The last such reply is what the failure reports.
	var mismatch error
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
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

// sendUDP sends payload to t from a connected socket, so the kernel
// reports an ICMP port unreachable as ECONNREFUSED on the next read.
// Reads fail with os.ErrDeadlineExceeded at ctx's deadline or when ctx is
// cancelled. closeConn closes the socket.
func sendUDP(ctx context.Context, t Target, payload []byte) (c net.Conn, closeConn func(), err error) {
	var d net.Dialer
	if c, err = d.DialContext(ctx, "udp", t.String()); err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// Unblock the read when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	closeConn = func() { stop(); c.Close() }
	if _, err := c.Write(payload); err != nil {
		closeConn()
		return nil, nil, udpError(err)
	}
	return c, closeConn, nil
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

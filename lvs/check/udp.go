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
	// A datagram without Expect (a late reply to an earlier check, say)
	// does not end the check: the right one may still come before the
	// timeout. The last such reply is what the failure reports.
	var mismatch error
	err := exchangeUDP(ctx, t, []byte(p.spec.Payload), func(reply []byte) bool {
		if p.spec.Expect == "" || bytes.Contains(reply, []byte(p.spec.Expect)) {
			return true
		}
		mismatch = fmt.Errorf("reply %q does not contain %q", snippet(reply), p.spec.Expect)
		return false
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case mismatch != nil:
			err = mismatch
		case p.spec.Expect != "" || p.spec.RequireReply:
			err = errors.New("no reply before the timeout")
		default:
			err = nil // silence without an ICMP error: the port is open
		}
	}
	return Result{Err: err, Latency: time.Since(start)}
}

// exchangeUDP sends payload to t from a connected socket, so the kernel
// reports an ICMP port unreachable as ECONNREFUSED on the next read, and
// hands each reply to done until it returns true. When ctx ends first
// (its deadline or a cancel) the error is os.ErrDeadlineExceeded.
func exchangeUDP(ctx context.Context, t Target, payload []byte, done func(reply []byte) bool) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", t.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// Unblock the read when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(payload); err != nil {
		return udpError(err)
	}
	buf := make([]byte, maxDatagram)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return udpError(err)
		}
		if done(buf[:n]) {
			return nil
		}
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

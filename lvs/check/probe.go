package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Target is what one probe checks: the real server's address and the port
// the check connects to (the server's own unless the check names one).
type Target struct {
	Address netip.Addr
	Port    uint16
}

// AddrPort returns the target as an address and port.
func (t Target) AddrPort() netip.AddrPort { return netip.AddrPortFrom(t.Address, t.Port) }

func (t Target) String() string { return t.AddrPort().String() }

// Result is the outcome of one probe (or of one attempt with its retries).
type Result struct {
	// Err is nil when the check passed; otherwise it says why it failed.
	Err error
	// Latency is how long the (last) probe took.
	Latency time.Duration
}

// OK reports whether the check passed.
func (r Result) OK() bool { return r.Err == nil }

// Probe runs one check against a target once. It must give up when ctx
// ends (the check's timeout) and report that as a failure.
type Probe func(ctx context.Context, t Target) Result

// NewProbe builds the probe for a resolved check. It does everything that
// can fail before the first run (regexp compilation, user lookup, DNS type
// parsing) so a broken check is reported once, clearly.
func NewProbe(spec *model.CheckSpec) (Probe, error) { return newProbe(spec, nil) }

// newProbe is NewProbe with the exec checks' command starter (nil: cmd.Start).
func newProbe(spec *model.CheckSpec, start func(*exec.Cmd) error) (Probe, error) {
	if spec == nil {
		return nil, errors.New("no check")
	}
	switch spec.Type {
	case "tcp":
		return newTCP(), nil
	case "http":
		return newHTTP(spec.HTTP, false)
	case "https":
		return newHTTP(spec.HTTP, true)
	case "exec":
		return newExec(spec, start)
	case "udp":
		return newUDP(spec.UDP)
	case "dns":
		return newDNS(spec.DNS)
	}
	return nil, fmt.Errorf("unknown check type %q (want tcp, http, https, exec, udp or dns)", spec.Type)
}

// Attempt runs probe once with the check's timeout and, while it fails,
// up to spec.Retries more times, but never past deadline (the next
// scheduled check, so retries stay inside one interval). The result is
// that of the last try; the attempt counts as one pass or one failure.
// now is the scheduling clock's.
func Attempt(ctx context.Context, probe Probe, spec *model.CheckSpec, t Target, now func() time.Time, deadline time.Time) (Result, int) {
	var r Result
	tries := 0
	for {
		tries++
		r = runOnce(ctx, probe, spec.Timeout, t)
		if r.OK() || tries > spec.Retries || ctx.Err() != nil || !now().Before(deadline) {
			return r, tries
		}
	}
}

func runOnce(ctx context.Context, probe Probe, timeout time.Duration, t Target) Result {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout(timeout))
	defer cancel()
	start := time.Now()
	r := probe(ctx, t)
	if r.Latency == 0 {
		r.Latency = time.Since(start)
	}
	return r
}

// timeoutErr rewrites a context error into the wording an operator wants.
func timeoutErr(ctx context.Context, err error) error {
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

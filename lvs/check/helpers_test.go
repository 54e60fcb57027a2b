package check

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// probeOnce builds spec's probe and runs it once against target with the
// spec's timeout, failing the test if the probe cannot be built.
func probeOnce(t *testing.T, spec *model.CheckSpec, target Target) Result {
	t.Helper()
	p, err := NewProbe(spec)
	if err != nil {
		t.Fatalf("NewProbe: %v", err)
	}
	return runOnce(context.Background(), p, spec.Timeout, target)
}

// targetOf turns a listener or packet conn address into a Target.
func targetOf(t *testing.T, a net.Addr) Target {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatalf("address %v: %v", a, err)
	}
	return Target{Address: ap.Addr(), Port: ap.Port()}
}

// closedTCPPort returns a loopback port nothing listens on.
func closedTCPPort(t *testing.T) Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(t, l.Addr())
	l.Close()
	return tg
}

// closedUDPPort returns a loopback UDP port nothing listens on.
func closedUDPPort(t *testing.T) Target {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(t, c.LocalAddr())
	c.Close()
	return tg
}

// silentTCPServer accepts connections and never writes: a hung backend.
func silentTCPServer(t *testing.T) Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return targetOf(t, l.Addr())
}

func wantPass(t *testing.T, r Result) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("check failed: %v", r.Err)
	}
	if r.Latency <= 0 {
		t.Errorf("latency %v, want > 0", r.Latency)
	}
}

func wantFail(t *testing.T, r Result, substr string) {
	t.Helper()
	if r.OK() {
		t.Fatalf("check passed, want a failure containing %q", substr)
	}
	if !strings.Contains(r.Err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", r.Err, substr)
	}
}

// elapsed runs f and returns how long it took.
func elapsed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

package check

import (
	"net"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check/checktest/hungtcp"
	"github.com/hakeeper/hakeeper/model"
)

func TestTCPCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	spec := &model.CheckSpec{Type: "tcp", Timeout: time.Second}
	wantPass(t, probeOnce(t, spec, targetOf(t, l.Addr())))
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the check's connection")
	}

	t.Run("closed port", func(t *testing.T) {
		wantFail(t, probeOnce(t, spec, closedTCPPort(t)), "connection refused")
	})
	t.Run("timeout when the accept queue is full", func(t *testing.T) {
		target := fullBacklogListener(t)
		spec := &model.CheckSpec{Type: "tcp", Timeout: 300 * time.Millisecond}
		var r Result
		took := elapsed(func() { r = probeOnce(t, spec, target) })
		wantFail(t, r, "timed out")
		if took > 3*time.Second {
			t.Errorf("check took %v with a 300ms timeout", took)
		}
	})
}

// fullBacklogListener is a server that is there but cannot take
// connections (hungtcp).
func fullBacklogListener(t *testing.T) Target {
	a := hungtcp.Listener(t)
	return Target{Address: a.Addr(), Port: a.Port()}
}

func TestTCPCheckIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := targetOf(t, l.Addr())
	if !target.Address.Is6() {
		t.Fatalf("target %v is not IPv6", target)
	}
	wantPass(t, probeOnce(t, &model.CheckSpec{Type: "tcp", Timeout: time.Second}, target))
}

package check

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

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

// fullBacklogListener returns a listening socket with backlog 0 whose
// accept queue is already full, so the kernel drops further SYNs and a
// connect hangs: a server that is there but cannot take connections.
func fullBacklogListener(t *testing.T) Target {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "backlog0")
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	target := targetOf(t, l.Addr())
	// Fill the queue: connects that complete without being accepted. The
	// first must complete (a slow one would leave the queue empty); a later
	// one that takes 200ms was dropped by the full queue.
	for i := 0; i < 4; i++ {
		timeout := 200 * time.Millisecond
		if i == 0 {
			timeout = 5 * time.Second
		}
		c, err := net.DialTimeout("tcp", target.String(), timeout)
		if err != nil {
			if i == 0 {
				t.Fatalf("connect to the listener to fill its queue: %v", err)
			}
			break // queue full: this one already hangs
		}
		t.Cleanup(func() { c.Close() })
	}
	return target
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

// Package hungtcp gives health-check tests a TCP server that is there but
// cannot take connections: a loopback listener with backlog 0 whose
// accept queue is already full, so the kernel drops further SYNs and a
// connect hangs in SYN_SENT until the check times out. It imports nothing
// of lvs/check, so the package's internal and external tests share it.
package hungtcp

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// Listener returns the address of a full-queued listener that lives
// until the test ends.
func Listener(t testing.TB) netip.AddrPort {
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
	addr := netip.MustParseAddrPort(l.Addr().String())
	// Fill the queue with connects that complete without being accepted.
	// The first must complete, however slow the machine (a slow one would
	// leave the queue empty); a later one that takes 200ms was dropped by
	// the full queue.
	for i := range 4 {
		timeout := 200 * time.Millisecond
		if i == 0 {
			timeout = 5 * time.Second
		}
		c, err := net.DialTimeout("tcp", addr.String(), timeout)
		if err != nil {
			if i == 0 {
				t.Fatalf("connect to the listener to fill its queue: %v", err)
			}
			break // queue full: this one already hangs
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

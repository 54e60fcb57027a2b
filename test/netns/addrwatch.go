package netns

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// AddrEvent is one address added to or removed from a node's interface,
// stamped when the test received the rtnetlink notification (no kernel
// timestamp exists for these; the receiving goroutine does nothing else,
// so on an idle machine the stamp trails the kernel by well under 1 ms).
type AddrEvent struct {
	Time  time.Time
	Addr  netip.Addr
	Added bool
}

// AddrWatch records every address change in a node's namespace.
type AddrWatch struct {
	mu     sync.Mutex
	events []AddrEvent
	done   chan struct{}
}

// WatchAddrs subscribes to the node's address notifications until cleanup.
func (n *Node) WatchAddrs(t testing.TB) *AddrWatch {
	t.Helper()
	ns, err := vnetns.GetFromName(n.Name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", n.Name, err)
	}
	defer ns.Close()
	ch := make(chan netlink.AddrUpdate, 256)
	w := &AddrWatch{done: make(chan struct{})}
	if err := netlink.AddrSubscribeWithOptions(ch, w.done, netlink.AddrSubscribeOptions{Namespace: &ns}); err != nil {
		t.Fatalf("address subscription in %s: %v", n.Name, err)
	}
	go func() {
		for u := range ch {
			now := time.Now()
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			w.mu.Lock()
			w.events = append(w.events, AddrEvent{Time: now, Addr: ip.Unmap(), Added: u.NewAddr})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(w.done) })
	return w
}

// Added returns when addr was first added at or after since.
func (w *AddrWatch) Added(addr netip.Addr, since time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.Added && e.Addr == addr && !e.Time.Before(since) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// WaitAdded polls until addr was added at or after since, or timeout.
func (w *AddrWatch) WaitAdded(addr netip.Addr, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if at, ok := w.Added(addr, since); ok {
			return at, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s not added within %v", addr, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

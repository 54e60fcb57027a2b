package vrrpd_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// endedWatch is Links whose watcher ends at once without an error.
type endedWatch struct {
	*vrrptest.Links
	ended chan struct{}
}

func (l endedWatch) Watch(context.Context, func(string)) error {
	close(l.ended)
	return nil
}

// Run shuts the engine down gracefully when its context ends, also
// after its link watcher has ended on its own: the master resigns with
// a priority-0 advert and releases its VIP.
//
// When the watcher has ended, Run sees its end and the context's at once
// and select picks one at random; 30 rounds take the watcher's path
// with near certainty.
func TestRunShutsDownAfterWatcherEnded(t *testing.T) {
	for i := 0; i < 30 && !t.Failed(); i++ {
		runShutsDownAfterWatcherEnded(t)
	}
}

func runShutsDownAfterWatcherEnded(t *testing.T) {
	t.Helper()
	clock := vrrptest.NewClock(epoch)
	segment := vrrptest.NewNetwork(clock)
	host := segment.NewHost("n1", netip.MustParseAddr("192.0.2.1"), netip.Addr{})
	addrs := vrrptest.NewAddresses()
	links := endedWatch{vrrptest.NewLinks(), make(chan struct{})}
	e, err := vrrpd.New(vrrpd.Config{Clock: clock, Conns: host, Addrs: addrs,
		Announcer: vrrptest.NewAnnouncer(clock), Links: links, Runner: vrrptest.NewRunner(clock)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(&model.NodeState{Instances: []model.Instance{instance(1, model.OwnerPriority)}}); err != nil {
		t.Fatal(err)
	}
	if !addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Fatal("the address owner did not add its VIP")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-links.ended
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if addrs.Has("eth0", vip("192.0.2.101/24")) {
		t.Error("VIP still on eth0 after Run ended with its context")
	}
	resigned := false
	for _, p := range segment.Sent() {
		if a, err := packet.Decode(p.Payload, p.Src, p.Dst); err == nil && a.Priority == 0 {
			resigned = true
		}
	}
	if !resigned {
		t.Error("no priority-0 advert: Run did not shut the engine down")
	}
}

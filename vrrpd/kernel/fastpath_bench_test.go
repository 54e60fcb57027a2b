package kernel

import (
	"net/netip"
	"runtime"
	"testing"

	vnetns "github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netns"
)

// BenchmarkBecomeMasterCalls times, one by one, the kernel calls a new
// master makes between its first advert and its gratuitous ARPs, against
// a lab namespace: the address list, the record write and the add (each
// add is undone outside the timer).
func BenchmarkBecomeMasterCalls(b *testing.B) {
	lab := netns.New(b, 1)
	n := lab.Node(1)
	h, err := n.Handle()
	if err != nil {
		b.Fatal(err)
	}
	a := NewAddressesWith(h)
	vip := model.VIPSpec{Prefix: netip.MustParsePrefix("10.99.0.100/24"), Device: n.Iface}
	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.List(n.Iface); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("VIPFile.Save", func(b *testing.B) {
		f := NewVIPFile(b.TempDir())
		vips := []model.VIPSpec{vip}
		for b.Loop() {
			if err := f.Save(vips); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AddNew", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if added, err := a.AddNew(vip); err != nil || !added {
				b.Fatal(added, err)
			}
			b.StopTimer()
			if err := a.Delete(vip); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkAnnounce times one gratuitous ARP burst for one VIP, as a new
// master sends it, in a lab namespace: on the Announcer's kept sockets,
// and on sockets opened for the burst, closed in or out of the timing.
func BenchmarkAnnounce(b *testing.B) {
	lab := netns.New(b, 1)
	n := lab.Node(1)
	vip := []netip.Addr{netip.MustParseAddr("10.99.0.100")}
	b.Run("Cached", func(b *testing.B) {
		enterNamespace(b, n.Name)
		a := NewAnnouncer()
		defer a.Close()
		for b.Loop() {
			if err := a.Announce(n.Iface, vip); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Fresh", func(b *testing.B) {
		enterNamespace(b, n.Name)
		for b.Loop() {
			a := NewAnnouncer()
			if err := a.Announce(n.Iface, vip); err != nil {
				b.Fatal(err)
			}
			a.Close()
		}
	})
	b.Run("FreshWithoutClose", func(b *testing.B) {
		enterNamespace(b, n.Name)
		for b.Loop() {
			a := NewAnnouncer()
			if err := a.Announce(n.Iface, vip); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			a.Close()
			b.StartTimer()
		}
	})
}

// enterNamespace moves the calling goroutine's thread into the named
// namespace for good: the thread stays locked, so the runtime discards
// it when the (sub-)benchmark's goroutine ends.
func enterNamespace(b *testing.B, name string) {
	ns, err := vnetns.GetFromName(name)
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	runtime.LockOSThread()
	if err := vnetns.Set(ns); err != nil {
		b.Fatal(err)
	}
}

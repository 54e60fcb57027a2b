package kernel

import (
	"net/netip"
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
	lib := NewAddressesWith(h)
	ns, err := vnetns.GetFromName(n.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	a, err := NewAddressesAt(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	vip := model.VIPSpec{Prefix: netip.MustParsePrefix("10.99.0.100/24"), Device: n.Iface}
	if err := a.Prepare([]model.VIPSpec{vip}); err != nil {
		b.Fatal(err)
	}
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
	for _, c := range []struct {
		name string
		a    *Addresses
	}{{"AddNew/library", lib}, {"AddNew/own-socket", a}} {
		b.Run(c.name, func(b *testing.B) {
			if err := c.a.Prepare([]model.VIPSpec{vip}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				if added, err := c.a.AddNew(vip); err != nil || !added {
					b.Fatal(added, err)
				}
				b.StopTimer()
				if err := c.a.Delete(vip); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

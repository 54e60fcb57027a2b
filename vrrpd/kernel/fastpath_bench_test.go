package kernel

import (
	"net/netip"
	"testing"

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

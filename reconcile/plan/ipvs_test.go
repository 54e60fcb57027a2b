package plan

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

// Against a live IPVS table the plan shows lvs's operations one to one.
func TestDiffWithLiveIPVS(t *testing.T) {
	web := model.VirtualService{Name: "web", Family: model.IPv4, Address: netip.MustParseAddr("192.0.2.10"), Port: 80,
		Protocol: model.TCP, Scheduler: "wlc", Forwarding: model.NAT, Quorum: 1,
		RealServers: []model.RealServerSpec{
			{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Weight: 5},
			{Address: netip.MustParseAddr("198.51.100.3"), Port: 80, Weight: 1},
		}}
	dns := model.VirtualService{Name: "dns", Family: model.IPv4, Address: netip.MustParseAddr("192.0.2.53"), Port: 53,
		Protocol: model.UDP, Scheduler: "rr", Forwarding: model.DR, Quorum: 1,
		RealServers: []model.RealServerSpec{{Address: netip.MustParseAddr("198.51.100.9"), Port: 53, Weight: 1}}}
	desired := &model.NodeState{Node: "lb1", Services: []model.VirtualService{dns, web}}

	// The kernel has web with the old weight, a server since removed, the
	// wrong scheduler; someone else's service; no dns.
	liveWeb := web
	liveWeb.Scheduler = "rr"
	liveWeb.RealServers = []model.RealServerSpec{
		{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Weight: 1},
		{Address: netip.MustParseAddr("198.51.100.2"), Port: 80, Weight: 1},
		{Address: netip.MustParseAddr("198.51.100.3"), Port: 80, Weight: 1},
	}
	live := lvs.TableFromModel([]model.VirtualService{liveWeb})
	other := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("203.0.113.1"), Port: 25, Scheduler: "rr"}
	live = append(live, lvs.VirtualServer{Service: other.Normalize()})
	owned := lvs.Owned{live[0].Service.Key(): {}}
	ops, err := lvs.Diff(lvs.TableFromModel(desired.Services), live, owned, lvs.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := Diff(desired, &Live{IPVS: &ops})
	want := []string{
		"+ service dns udp 192.0.2.53:53",
		"+ real-server dns 198.51.100.9:53",
		"~ service web tcp 192.0.2.10:80: scheduler rr→wlc",
		"~ real-server web 198.51.100.1:80: weight 1→5",
		"- real-server web 198.51.100.2:80",
		"# unmanaged  tcp/203.0.113.1:25",
	}
	if got := lines(p); !reflect.DeepEqual(got, want) {
		t.Errorf("changes\n got %q\nwant %q", got, want)
	}
	if s := p.Summary(); s != (Summary{Add: 2, Change: 2, Destroy: 1}) || len(ops.Ops) != 5 {
		t.Errorf("summary %+v for %d operations", s, len(ops.Ops))
	}
	// In sync: nothing.
	ops, _ = lvs.Diff(lvs.TableFromModel(desired.Services), lvs.TableFromModel(desired.Services), lvs.Owned{
		lvs.TableFromModel(desired.Services)[0].Service.Key(): {}, lvs.TableFromModel(desired.Services)[1].Service.Key(): {}}, lvs.DiffOptions{})
	if p := Diff(desired, &Live{IPVS: &ops}); p.HasChanges() {
		t.Errorf("in sync: %q", lines(p))
	}
}

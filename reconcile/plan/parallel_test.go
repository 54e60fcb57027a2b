package plan

import (
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// TestOfflinePlanInParallel builds the offline plan of a node with enough
// services for their changes to be built on several goroutines. On one
// goroutine and on four it must be the same, and the same as the
// matching diff gives when one unrelated live service forces it (which
// then only adds that service's deletion at the end).
func TestOfflinePlanInParallel(t *testing.T) {
	const services, servers = 3000, 3
	ns := largeState(20, services, servers)
	// Services differ in what a create shows: persistence, sorry server.
	for i := range ns.Services {
		if i%5 == 0 {
			ns.Services[i].Persistence = 300e9
			ns.Services[i].PersistenceMask = 32
		}
		if i%11 == 0 {
			ns.Services[i].SorryServer = &model.RealServerSpec{Address: netip.MustParseAddr("192.0.2.99"), Port: 80}
		}
		// Real servers' checks differ from the one before in a field or
		// two (the offline plan reuses the text of equal checks), or not
		// at all, or are missing.
		for k := range ns.Services[i].RealServers {
			rs := &ns.Services[i].RealServers[k]
			c := *rs.Check
			switch (i + k) % 4 {
			case 1:
				c.Port = uint16(8000 + k)
			case 2:
				c.HTTP, c.Type = &model.HTTPCheck{Path: "/k" + strconv.Itoa(k%2)}, "http"
			case 3:
				rs.Check = nil
				continue
			}
			rs.Check = &c
		}
	}
	diff := func(live *Live, procs int) *Plan {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return Diff(ns, live)
	}
	one, many := diff(&Live{}, 1), diff(&Live{}, 4)
	if !reflect.DeepEqual(one, many) {
		t.Fatal("offline plan built on several goroutines differs from one goroutine's")
	}
	want := len(ns.Instances) + services*(1+servers)
	if len(many.Changes) != want {
		t.Fatalf("%d changes, want %d", len(many.Changes), want)
	}

	other := model.VirtualService{Name: "gone", Family: model.IPv4, Protocol: model.TCP, Address: netip.MustParseAddr("198.51.100.1"), Port: 443}
	matched := diff(&Live{Services: []model.VirtualService{other}}, 4)
	if len(matched.Changes) != want+1 {
		t.Fatalf("with one live service: %d changes, want %d", len(matched.Changes), want+1)
	}
	if last := matched.Changes[want]; last.Action != Delete || last.Group != "gone" {
		t.Errorf("last change %+v, want the deletion of service gone", last)
	}
	if !reflect.DeepEqual(many.Changes, matched.Changes[:want]) {
		t.Error("offline plan differs from the matching diff's creates")
	}
}

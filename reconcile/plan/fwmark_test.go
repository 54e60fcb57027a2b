package plan

import (
	"net/netip"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
)

// Against the kernel the plan lists exactly the marks plan's writes,
// each service's rules together, whatever the order they came in.
func TestMarkChangesFromKernelPlan(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.10")
	rule := func(svc string, port uint16) marks.Rule {
		return marks.Rule{Service: svc, Mark: 7, Protocol: model.TCP, Address: vip, First: port, Last: port}
	}
	live := &Live{Marks: &marks.Plan{
		Add:    []marks.Rule{rule("b", 2), rule("a", 1)},
		Delete: []marks.Live{{Rule: rule("b", 3), Handle: 9}, {Handle: 4}},
	}}
	p := Diff(&model.NodeState{Node: "lb1"}, live)
	want := []Change{
		{Action: Delete, Kind: KindMarkRule, Group: "(none)", Name: "rule not written by hakeeper"},
		{Action: Create, Kind: KindMarkRule, Group: "a", Name: "tcp 192.0.2.10 port 1 mark 7"},
		{Action: Create, Kind: KindMarkRule, Group: "b", Name: "tcp 192.0.2.10 port 2 mark 7"},
		{Action: Delete, Kind: KindMarkRule, Group: "b", Name: "tcp 192.0.2.10 port 3 mark 7"},
	}
	if len(p.Changes) != len(want) {
		t.Fatalf("changes %+v, want %+v", p.Changes, want)
	}
	for i := range want {
		if c := p.Changes[i]; c.Action != want[i].Action || c.Kind != want[i].Kind || c.Group != want[i].Group || c.Name != want[i].Name {
			t.Errorf("change %d: %+v, want %+v", i, c, want[i])
		}
	}
}

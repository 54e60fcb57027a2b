package plan

import (
	"cmp"
	"sort"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
)

// KindMarkRule is a rule giving a fwmark service's traffic its mark.
const KindMarkRule Kind = "fwmark-rule"

// marksDiff appends the fwmark rules to add and delete, grouped by
// service. Against the kernel (Live.Marks) they are exactly the writes
// marks.Sync would make; otherwise the live services' rules stand for
// the table, as a faithful daemon would keep it.
func marksDiff(p *Plan, desired []model.VirtualService, live *Live) {
	mp := live.Marks
	if mp == nil {
		var lr []marks.Live
		for _, r := range marks.FromModel(live.Services) {
			lr = append(lr, marks.Live{Rule: r})
		}
		d := marks.Diff(marks.FromModel(desired), lr, len(lr) > 0)
		mp = &d
	}
	var changes []Change
	for _, r := range mp.Add {
		changes = append(changes, Change{Action: Create, Kind: KindMarkRule, Group: r.Service, Name: r.String()})
	}
	for _, l := range mp.Delete {
		// A rule added by hand may name no service.
		changes = append(changes, Change{Action: Delete, Kind: KindMarkRule, Group: cmp.Or(l.Service, "(none)"), Name: l.String()})
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Group < changes[j].Group })
	p.Changes = append(p.Changes, changes...)
}

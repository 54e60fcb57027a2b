package plan

import (
	"strings"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
)

// Kinds of the real-server role's changes (section "real-server", group
// the node's name).
const (
	KindRealServerVIP Kind = "real-server-vip"
	KindLink          Kind = "link"
	KindSysctl        Kind = "sysctl"
)

// realServerChanges lists the writes of the node's real-server role: the
// realserver programmer's operations against the kernel when observed
// (rs), else everything desired as new.
func realServerChanges(p *Plan, desired *model.NodeState, rs *realserver.Plan) {
	role := desired.RealServer
	if role == nil {
		role = &model.RealServerRole{}
	}
	if rs == nil {
		rs = &realserver.Plan{}
		for _, s := range role.Sysctls {
			rs.Ops = append(rs.Ops, realserver.Op{Kind: realserver.SetSysctl, Name: s.Name, New: s.Value})
		}
		for _, v := range role.VIPs {
			rs.Ops = append(rs.Ops, realserver.Op{Kind: realserver.AddAddr, Addr: realserver.Addr{Device: v.Device, Prefix: v.Prefix}})
		}
	}
	services := map[realserver.Addr]string{}
	for _, v := range role.VIPs {
		services[realserver.Addr{Device: v.Device, Prefix: v.Prefix}] = strings.Join(v.Services, ", ")
	}
	for _, op := range rs.Ops {
		c := Change{Group: desired.Node, Kind: KindSysctl, Action: Update, Name: op.Name,
			Fields: []FieldChange{{Name: "value", Old: op.Old, New: op.New}}}
		switch op.Kind {
		case realserver.AddAddr, realserver.DelAddr:
			c.Kind, c.Name, c.Action = KindRealServerVIP, op.Addr.Prefix.String()+" on "+op.Addr.Device, Create
			c.Fields = []FieldChange{{Name: "services", New: services[op.Addr]}}
			if op.Kind == realserver.DelAddr {
				c.Action, c.Fields = Delete, nil
			}
		case realserver.LinkUp, realserver.LinkDown:
			c.Kind, c.Name = KindLink, op.Addr.Device
			c.Fields = []FieldChange{{Name: "state", Old: "down", New: "up"}}
			if op.Kind == realserver.LinkDown {
				c.Fields[0].Old, c.Fields[0].New = "up", "down"
			}
		}
		p.Changes = append(p.Changes, c)
	}
	for _, a := range rs.Kept {
		p.Changes = append(p.Changes, Change{Action: Note, Kind: KindRealServerVIP, Group: desired.Node, Name: a.Prefix.String() + " on " + a.Device})
	}
}

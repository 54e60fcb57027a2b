package keepalived

import (
	"strconv"

	"github.com/hakeeper/hakeeper/model"
)

// syncdConf is a node's lvs_sync_daemon: the interface, the vrrp_instance
// whose state drives the daemon and the optional settings.
type syncdConf struct {
	pos      model.Pos
	iface    string
	instance string
	cs       model.ConnectionSync
}

// readSyncDaemon reads global_defs' lvs_sync_daemon <iface> <instance>
// [id N] [maxlen N] [port N] [ttl N] [group ADDR].
func readSyncDaemon(_ *importer, n *nodeConf, s *Stmt) error {
	if len(s.Args) < 2 || len(s.Args)%2 != 0 {
		return argErr(s, "want an interface, a vrrp_instance and option value pairs (id, maxlen, port, ttl, group)")
	}
	d := &syncdConf{pos: s.Pos, iface: s.Args[0], instance: s.Args[1]}
	for i := 2; i < len(s.Args); i += 2 {
		opt, v := s.Args[i], s.Args[i+1]
		if opt == "group" {
			d.cs.MulticastGroup = v
			continue
		}
		num, err := strconv.Atoi(v)
		if err != nil {
			return argErr(s, "%s %q is not a whole number", opt, v)
		}
		switch opt {
		case "id":
			d.cs.SyncID = &num
		case "maxlen":
			d.cs.MaxPacketSize = num
		case "port":
			d.cs.Port = num
		case "ttl":
			d.cs.TTL = num
		default:
			return argErr(s, "unknown option %q (want id, maxlen, port, ttl or group)", opt)
		}
	}
	n.syncd = d
	return nil
}

// mergeConnSync gives each lvs_sync_daemon's VIP group its connectionSync.
// The interface is left out where it is the instance's own (hakeeper's
// default); the sync ID where it is the VRID (keepalived's default and
// hakeeper's). Nodes that disagree are warned about; the first wins.
func (im *importer) mergeConnSync(c *model.Cluster, groupOf map[*nodeConf]map[string]string) {
	first := map[string]*syncdConf{}
	for _, n := range im.nodes {
		d := n.syncd
		if d == nil {
			continue
		}
		name, ok := groupOf[n][d.instance]
		if !ok {
			im.warn(d.pos, "lvs_sync_daemon: %s is no vrrp_instance of this node (dropped)", d.instance)
			continue
		}
		cs := d.cs
		for _, in := range n.instances {
			if in.name == d.instance && in.iface != d.iface {
				cs.Interface = d.iface
			}
		}
		if g := c.VIPGroups[name]; cs.SyncID != nil && *cs.SyncID == g.VRID {
			cs.SyncID = nil
		}
		if f := first[name]; f != nil {
			im.differs("lvs_sync_daemon of "+name, fingerprint(c.VIPGroups[name].ConnectionSync), fingerprint(&cs), f.pos, d.pos)
			continue
		}
		first[name] = d
		c.VIPGroups[name].ConnectionSync = &cs
	}
}

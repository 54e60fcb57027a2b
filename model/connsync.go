package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// ConnectionSync runs the kernel's IPVS connection-sync daemon for a VIP
// group: in master state on the group's VRRP master, in backup state on
// its other nodes, so a backup taking over already holds the master's
// connections (keepalived's lvs_sync_daemon). The kernel runs one master
// and one backup daemon per host, so at most one group of a node may set it.
type ConnectionSync struct {
	// Interface the sync messages go out and come in on. Default: the
	// group's VRRP interface on each node.
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"`
	// SyncID tags the messages (0-255); a backup takes only its own ID's.
	// Default: the group's VRID.
	SyncID *int `yaml:"syncID,omitempty" json:"syncID,omitempty"`
	// MulticastGroup, Port and TTL of the sync messages. Defaults
	// 224.0.0.81, 8848, 1 (the kernel's).
	MulticastGroup string `yaml:"multicastGroup,omitempty" json:"multicastGroup,omitempty"`
	Port           int    `yaml:"port,omitempty" json:"port,omitempty"`
	TTL            int    `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// MaxPacketSize caps a sync message's UDP payload: keep it below the
	// interface's MTU less 28 (IPv4) or 48 (IPv6) bytes. Default 1472.
	MaxPacketSize int `yaml:"maxPacketSize,omitempty" json:"maxPacketSize,omitempty"`
}

// Defaults of a connection-sync daemon: the kernel's own.
var DefaultSyncMulticastGroup = netip.MustParseAddr("224.0.0.81")

const (
	DefaultSyncPort = 8848
	DefaultSyncTTL  = 1
	// DefaultSyncMaxPacketSize fills a 1500-byte MTU after the IPv4 and
	// UDP headers; an IPv6 group's default is 20 bytes less.
	DefaultSyncMaxPacketSize = 1500 - 20 - 8
	// MinSyncMaxPacketSize is the least the kernel accepts of a backup.
	MinSyncMaxPacketSize = 1024
)

// ConnectionSyncSpec is a resolved ConnectionSync: the node's sync daemon.
type ConnectionSyncSpec struct {
	// Group is the VIP group whose VRRP state on this node decides the
	// daemon's: master when it is master, backup otherwise.
	Group          string     `json:"group"`
	Interface      string     `json:"interface"`
	SyncID         uint8      `json:"syncID"`
	MulticastGroup netip.Addr `json:"multicastGroup"`
	Port           uint16     `json:"port"`
	TTL            uint8      `json:"ttl"`
	MaxPacketSize  uint16     `json:"maxPacketSize"`
}

// connectionSync resolves the sync daemon of the one instance of the node
// whose group sets connectionSync (Validate allows one), nil if none does.
func (r *resolver) connectionSync(instances []Instance) *ConnectionSyncSpec {
	i := slices.IndexFunc(instances, func(in Instance) bool { return r.c.VIPGroups[in.Name].ConnectionSync != nil })
	if i < 0 {
		return nil
	}
	in := instances[i]
	cs := r.c.VIPGroups[in.Name].ConnectionSync
	spec := &ConnectionSyncSpec{
		Group: in.Name, Interface: cmp.Or(cs.Interface, in.Interface),
		SyncID: uint8(first(int(in.VRID), cs.SyncID)), MulticastGroup: DefaultSyncMulticastGroup,
		Port: uint16(cmp.Or(cs.Port, DefaultSyncPort)), TTL: uint8(cmp.Or(cs.TTL, DefaultSyncTTL)),
		MaxPacketSize: uint16(cmp.Or(cs.MaxPacketSize, DefaultSyncMaxPacketSize)),
	}
	if a, err := netip.ParseAddr(cs.MulticastGroup); err == nil {
		spec.MulticastGroup = a
		if a.Is6() && cs.MaxPacketSize == 0 {
			spec.MaxPacketSize -= 20
		}
	}
	return spec
}

// connectionSync checks the groups' connectionSync settings, and that no
// node is in two groups setting it: the kernel runs one master and one
// backup daemon per host, and each group would want its own.
func (v *validator) connectionSync() {
	syncing := map[string]string{} // node → the group whose daemon it runs
	for _, name := range sortedKeys(v.c.VIPGroups) {
		g := v.c.VIPGroups[name]
		if g == nil || g.ConnectionSync == nil {
			continue
		}
		cs, p := g.ConnectionSync, "vipGroups."+name+".connectionSync"
		v.ifaceName(p+".interface", cs.Interface)
		if cs.SyncID != nil && (*cs.SyncID < 0 || *cs.SyncID > 255) {
			v.errorf(p+".syncID", "%d is out of range 0-255", *cs.SyncID)
		}
		maxSize := 65535 - 20 - 8
		if cs.MulticastGroup != "" {
			if a, err := netip.ParseAddr(cs.MulticastGroup); err != nil || !a.IsMulticast() || a.Zone() != "" {
				v.errorf(p+".multicastGroup", "%q is not a multicast address (224.0.0.0/4 or ff00::/8)", cs.MulticastGroup)
			} else if a.Is6() {
				maxSize -= 20
			}
		}
		if cs.Port < 0 || cs.Port > 65535 {
			v.errorf(p+".port", "port %d is out of range 1-65535", cs.Port)
		}
		if cs.TTL < 0 || cs.TTL > 255 {
			v.errorf(p+".ttl", "%d is out of range 1-255", cs.TTL)
		}
		if cs.MaxPacketSize != 0 && (cs.MaxPacketSize < MinSyncMaxPacketSize || cs.MaxPacketSize > maxSize) {
			v.errorf(p+".maxPacketSize", "%d is out of range %d-%d", cs.MaxPacketSize, MinSyncMaxPacketSize, maxSize)
		}
		for _, n := range v.members(name, g) {
			if other, ok := syncing[n]; ok {
				v.errorf(p, "node %q is also in group %q, which syncs connections too (at %s): the kernel runs one sync daemon per role on a node, so one group of a node may set connectionSync (its daemon syncs every IPVS connection of the node)",
					n, other, v.where("vipGroups."+other+".connectionSync"))
				break
			}
		}
		for _, n := range v.members(name, g) {
			syncing[n] = cmp.Or(syncing[n], name)
		}
	}
}

func (s *ConnectionSyncSpec) String() string {
	return fmt.Sprintf("on %s syncid %d group %s port %d ttl %d maxPacketSize %d",
		s.Interface, s.SyncID, s.MulticastGroup, s.Port, s.TTL, s.MaxPacketSize)
}

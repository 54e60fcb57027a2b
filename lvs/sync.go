package lvs

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/hakeeper/hakeeper/model"
)

// SyncState is the role of an IPVS connection-sync daemon: a master
// sends the director's connections, a backup receives a master's.
type SyncState uint32

// The values are the kernel's IP_VS_STATE_MASTER and IP_VS_STATE_BACKUP.
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state-%d", uint32(s))
}

// SyncDaemon is one IPVS connection-sync daemon. The kernel runs at most
// one master and one backup per network namespace, so State is its key.
type SyncDaemon struct {
	State     SyncState
	Interface string
	SyncID    uint8
	// Group, Port and TTL are the multicast group the daemon sends to or
	// listens on; MaxLen caps a sync message's UDP payload.
	Group  netip.Addr
	Port   uint16
	TTL    uint8
	MaxLen uint16
}

// Normalize fills what the kernel would fill: its defaults for unset
// group, port, TTL and message size, so a daemon written compares Equal
// to the one read back.
func (d SyncDaemon) Normalize() SyncDaemon {
	if !d.Group.IsValid() {
		d.Group = model.DefaultSyncMulticastGroup
	}
	d.Port = cmp.Or(d.Port, model.DefaultSyncPort)
	d.TTL = cmp.Or(d.TTL, model.DefaultSyncTTL)
	if d.MaxLen == 0 {
		d.MaxLen = model.DefaultSyncMaxPacketSize
		if d.Group.Is6() {
			d.MaxLen -= 20 // the IPv6 header is 20 bytes longer
		}
	}
	return d
}

func (d SyncDaemon) String() string {
	d = d.Normalize()
	return fmt.Sprintf("%s on %s syncid %d group %s port %d ttl %d maxlen %d",
		d.State, d.Interface, d.SyncID, d.Group, d.Port, d.TTL, d.MaxLen)
}

// SyncDaemons is the kernel boundary of one network namespace's IPVS
// sync daemons. lvs/ipvskernel implements it on netlink, lvs/lvstest in
// memory; both return daemons normalized, sorted by state.
type SyncDaemons interface {
	SyncDaemons() ([]SyncDaemon, error)
	// StartSyncDaemon fails with EEXIST when one in d.State runs already.
	StartSyncDaemon(d SyncDaemon) error
	// StopSyncDaemon fails with ESRCH when none in state runs.
	StopSyncDaemon(state SyncState) error
}

// ApplySyncDaemons makes the namespace's daemons exactly want (at most one per
// state), stopping and restarting a daemon whose settings differ, and
// returns the daemons started and stopped.
func ApplySyncDaemons(k SyncDaemons, want []SyncDaemon) (started, stopped []SyncDaemon, err error) {
	have, err := k.SyncDaemons()
	if err != nil {
		return nil, nil, fmt.Errorf("list IPVS sync daemons: %w", err)
	}
	norm := make([]SyncDaemon, len(want))
	for i, d := range want {
		norm[i] = d.Normalize()
	}
	for _, d := range have {
		if !slices.Contains(norm, d) {
			if err := k.StopSyncDaemon(d.State); err != nil {
				return started, stopped, err
			}
			stopped = append(stopped, d)
		}
	}
	for _, d := range norm {
		if !slices.Contains(have, d) {
			if err := k.StartSyncDaemon(d); err != nil {
				return started, stopped, err
			}
			started = append(started, d)
		}
	}
	return started, stopped, nil
}

// SyncDaemonsFromModel returns the daemons a node runs for spec while its
// group is in state: master on the master, backup in every other state
// (keepalived's choice), so a node that may become master already holds
// the connections. None without spec.
func SyncDaemonsFromModel(spec *model.ConnectionSyncSpec, state model.VRRPState) []SyncDaemon {
	if spec == nil {
		return nil
	}
	d := SyncDaemon{State: SyncBackup, Interface: spec.Interface, SyncID: spec.SyncID,
		Group: spec.MulticastGroup, Port: spec.Port, TTL: spec.TTL, MaxLen: spec.MaxPacketSize}
	if state == model.StateMaster {
		d.State = SyncMaster
	}
	return []SyncDaemon{d.Normalize()}
}

package status

import (
	"fmt"
	"strings"
)

// SyncDaemon is one IPVS connection-sync daemon; Group is the VIP group
// whose VRRP state hakeeper runs it by ("" when not hakeeper's).
type SyncDaemon struct {
	State          string `json:"state"`
	Group          string `json:"group,omitempty"`
	Interface      string `json:"interface"`
	SyncID         uint8  `json:"syncID"`
	MulticastGroup string `json:"multicastGroup"`
	Port           uint16 `json:"port"`
	TTL            uint8  `json:"ttl"`
	MaxPacketSize  uint16 `json:"maxPacketSize"`
}

// syncDaemonsText is the status table's line of IPVS sync daemons:
// "master on eth1 syncid 51 (web)", the group when hakeeper runs it.
func syncDaemonsText(ds []SyncDaemon) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s on %s syncid %d", d.State, d.Interface, d.SyncID)
		if d.Group != "" {
			parts[i] += " (" + d.Group + ")"
		} else {
			parts[i] += " (not hakeeper's)"
		}
	}
	return strings.Join(parts, ", ")
}

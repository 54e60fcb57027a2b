package status

import (
	"net/netip"
	"time"
)

// BGP is the node's BGP speaker: its sessions and what each bgp group
// announces, or why it is withdrawn.
type BGP struct {
	ASN      uint32     `json:"asn"`
	RouterID netip.Addr `json:"routerID"`
	Peers    []BGPPeer  `json:"peers"`
	Groups   []BGPGroup `json:"groups"`
}

// BGPPeer is one session.
type BGPPeer struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// State is the BGP FSM state (established when up).
	State string `json:"state"`
	// BFD is the BFD session's state, empty without BFD.
	BFD   string    `json:"bfd,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// BGPGroup is one bgp group on this node.
type BGPGroup struct {
	Name string         `json:"name"`
	VIPs []netip.Prefix `json:"vips"`
	// Announced are the VIPs the speaker announces now.
	Announced []netip.Prefix `json:"announced"`
	// Withdrawn says why the VIPs are withdrawn ("" when announced):
	// a service below quorum, a failing check, stopping, source lost.
	Withdrawn string `json:"withdrawn,omitempty"`
	MED       uint32 `json:"med,omitempty"`
	Prepend   int    `json:"prepend,omitempty"`
}

// Package bgp announces VIPs to routers over BGP: the second way, beside
// VRRP, for a node to draw a VIP's traffic. It lives under vrrpd because
// both answer the same question (which directors receive a VIP's
// packets); it is a protocol engine with the network as its boundary,
// like the VRRP engine, while reconcile decides what to announce.
//
// Speaker is the small interface the daemon uses: a whole desired
// Config applied at once (the running one is diffed, only changes reach
// the sessions), and a Status. Server implements it with an embedded
// GoBGP; bgptest has the fake.
package bgp

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Config is everything the speaker should run.
type Config struct {
	ASN      uint32
	RouterID netip.Addr
	Peers    []Peer  // sorted by Address
	Routes   []Route // sorted by Prefix; the VIPs announced now
}

// Peer is one BGP neighbour (a router).
type Peer struct {
	Address netip.Addr
	ASN     uint32
	// LocalAddress is the address the session comes from (the node's).
	LocalAddress netip.Addr
	// Password is the TCP-MD5 key (RFC 2385); empty: none.
	Password string
	// HoldTime and Keepalive in whole seconds (BGP's unit).
	HoldTime  time.Duration
	Keepalive time.Duration
	// BFD is nil when the session runs without BFD.
	BFD *BFD
}

// BFD is a peer's BFD (RFC 5880) timers: the session is down after
// Multiplier intervals of MinRx without a packet.
type BFD struct {
	MinTx      time.Duration
	MinRx      time.Duration
	Multiplier int
}

// Route is one announced VIP (a /32 or /128) with the attributes that
// rank it against the other directors' announcements of the same VIP:
// all equal gives ECMP; a higher MED or a longer AS path makes this
// director a backup.
type Route struct {
	Prefix  netip.Prefix
	MED     uint32
	Prepend int // extra copies of the local ASN in the AS path
}

// Speaker announces routes to peers.
type Speaker interface {
	// Apply makes the speaker run c, changing only what differs from
	// the running Config.
	Apply(c Config) error
	// Status reports the sessions and the announced routes.
	Status() Status
	// Stop withdraws every route, closes the sessions and ends the
	// speaker.
	Stop() error
}

// Status is what the speaker runs now.
type Status struct {
	Peers     []PeerStatus `json:"peers"`
	Announced []Route      `json:"announced"`
}

// PeerStatus is one session's state.
type PeerStatus struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// State is the BGP FSM state: idle, connect, active, opensent,
	// openconfirm or established.
	State string `json:"state"`
	// BFD is the BFD session state (up, down, init, admindown), empty
	// without BFD.
	BFD string `json:"bfd,omitempty"`
	// Since is when the session reached its state (zero: unknown).
	Since time.Time `json:"since,omitzero"`
}

// Established reports whether the session is up.
func (p PeerStatus) Established() bool { return p.State == "established" }

// Sort orders the peers and routes as Config documents.
func (c *Config) Sort() {
	slices.SortFunc(c.Peers, func(a, b Peer) int { return a.Address.Compare(b.Address) })
	slices.SortFunc(c.Routes, func(a, b Route) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
}

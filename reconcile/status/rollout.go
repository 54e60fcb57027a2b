package status

import "time"

// Rollout is the ordered rollout's part of the report: the health watch
// of the applied revision, a revision held back for the backups, the
// revisions marked bad, and what each peer last reported over the
// authenticated peer channel. Nil when the daemon runs without peers.
type Rollout struct {
	// Settled is true once the applied revision has passed its health
	// window (or changed nothing this node runs); peers wait for it.
	Settled bool `json:"settled"`
	// Watching is the applied revision under its health window, and
	// WatchUntil when the window ends.
	Watching   string    `json:"watching,omitempty"`
	WatchUntil time.Time `json:"watchUntil,omitzero"`
	// Waiting is a revision this node, master of a group it changes,
	// holds back until the group's backups report it applied and settled;
	// WaitingFor names them and WaitUntil is when the bounded wait ends.
	Waiting    string    `json:"waiting,omitempty"`
	WaitingFor []string  `json:"waitingFor,omitempty"`
	WaitUntil  time.Time `json:"waitUntil,omitzero"`
	// Bad lists the revisions this node will not apply again: rolled back
	// here, or reported rolled back by a peer.
	Bad []BadRevision `json:"bad,omitempty"`
	// Peers is what every other node of the cluster last reported.
	Peers []Peer `json:"peers"`
}

// BadRevision is a revision marked bad and why.
type BadRevision struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// By is the node that rolled it back (this node or a peer).
	By string `json:"by"`
}

// Peer is one other node as its authenticated status report showed it.
type Peer struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	// Reachable is false when the last poll failed (Error says why: no
	// answer, or a certificate the cluster's CA did not issue for Node).
	Reachable bool      `json:"reachable"`
	Error     string    `json:"error,omitempty"`
	Seen      time.Time `json:"seen,omitzero"`
	// The fields below are from the last report received (kept while
	// the peer is unreachable, with Seen saying how old they are).
	Applied string      `json:"applied,omitempty"`
	Settled bool        `json:"settled"`
	Healthy bool        `json:"healthy"`
	Bad     []string    `json:"bad,omitempty"`
	Groups  []PeerGroup `json:"groups,omitempty"`
}

// PeerGroup is one VIP group's VRRP state on a node.
type PeerGroup struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

package status

import (
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
)

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
	// Unconfirmed names the backups that had not reported the applied
	// revision applied and settled when the bounded wait ended and this
	// node applied it anyway.
	Unconfirmed []string `json:"unconfirmed,omitempty"`
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

// PeerGroup is one VIP group's VRRP state on a node, or a bgp group's
// StateAnnouncing or StateWithdrawn.
type PeerGroup struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// writeRollout adds the rollout's lines to the status header.
func writeRollout(p func(string, ...any), r *Rollout, now time.Time) {
	if r == nil {
		return
	}
	switch {
	case r.Watching != "":
		p("Rollout:\twatching %s until %s\n", source.ShortID(r.Watching), r.WatchUntil.Format(time.TimeOnly))
	case r.Settled:
		p("Rollout:\tsettled\n")
	}
	if r.Waiting != "" {
		p("Holding:\t%s for %s (until %s)\n", source.ShortID(r.Waiting), strings.Join(r.WaitingFor, ", "), r.WaitUntil.Format(time.TimeOnly))
	}
	if len(r.Unconfirmed) > 0 {
		p("Applied after the wait:\twithout reports from %s\n", strings.Join(r.Unconfirmed, ", "))
	}
	for _, b := range r.Bad {
		p("Bad revision:\t%s (rolled back on %s, %s): %s\n", source.ShortID(b.ID), b.By, ago(b.At, now), b.Reason)
	}
	var down []string
	for _, pr := range r.Peers {
		if !pr.Reachable {
			down = append(down, pr.Node)
		}
	}
	p("Peers:\t%d of %d reachable", len(r.Peers)-len(down), len(r.Peers))
	if len(down) > 0 {
		p(" (no report from %s)", strings.Join(down, ", "))
	}
	p("\n")
}

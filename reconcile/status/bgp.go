package status

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
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

// writeBGP prints the sessions and each bgp group's announcement.
func writeBGP(w io.Writer, b *BGP, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "BGP PEER (AS %d, router id %s)\tASN\tSESSION\tBFD\tSINCE\n", b.ASN, b.RouterID)
	for _, p := range b.Peers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", p.Address, p.ASN, p.State, dash(p.BFD), ago(p.Since, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP GROUP\tVIPS\tRANK\tANNOUNCED")
	for _, g := range b.Groups {
		vips := make([]string, len(g.VIPs))
		for i, v := range g.VIPs {
			vips[i] = v.String()
		}
		state := "yes"
		if g.Withdrawn != "" {
			state = "withdrawn: " + g.Withdrawn
		}
		rank := "ecmp"
		switch {
		case g.MED > 0:
			rank = fmt.Sprintf("med %d", g.MED)
		case g.Prepend > 0:
			rank = fmt.Sprintf("prepend %d", g.Prepend)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, strings.Join(vips, ", "), rank, state)
	}
	return tw.Flush()
}

package render

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// showBGP prints the node's BGP part: its sessions and the groups it
// announces, with what withdraws them.
func showBGP(w *bufio.Writer, b *model.BGPState) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nBGP as %d, router id %s (graceful stop: withdraw, drain %s", b.ASN, b.RouterID, b.DrainTime)
	if b.WithdrawOnSourceLoss {
		fmt.Fprint(w, "; withdraw while the source is lost")
	}
	fmt.Fprintln(w, ")")
	for i := range b.Peers {
		p := &b.Peers[i]
		pw := ""
		if p.PasswordFile != "" {
			pw = ", TCP-MD5 password from " + p.PasswordFile
		}
		fmt.Fprintf(w, "  peer %s as %d from %s: hold %s keepalive %s, BFD %s%s\n", p.Address, p.ASN, p.LocalAddress, p.HoldTime, p.Keepalive, plan.BFD(p), pw)
	}
	for _, g := range b.Groups {
		vips := make([]string, len(g.VIPs))
		for i, v := range g.VIPs {
			vips[i] = v.String()
		}
		rank := "ECMP with the other members"
		if g.MED > 0 || g.Prepend > 0 {
			rank = fmt.Sprintf("backup: MED %d, AS path +%d", g.MED, g.Prepend)
		}
		fmt.Fprintf(w, "  group %s announces %s (%s)\n", g.Name, strings.Join(vips, ", "), rank)
		var while []string
		for _, s := range g.Services {
			while = append(while, "service "+s+" has its quorum")
		}
		for _, c := range g.TrackChecks {
			while = append(while, "check "+c+" passes")
		}
		if len(while) > 0 {
			fmt.Fprintf(w, "    while %s\n", strings.Join(while, ", "))
		}
	}
}

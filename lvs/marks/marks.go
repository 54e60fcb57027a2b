// Package marks keeps the packet-marking rules of fwmark services: the
// nftables rules that give a service's traffic its firewall mark, which
// IPVS then balances. They live in a table of hakeeper's own (Table), so
// no other rule is ever read as ours or touched: the table is the
// ownership record. Sync reads the table, diffs it against the desired
// rules and writes only the difference.
package marks

import (
	"fmt"
	"net/netip"

	"github.com/hakeeper/hakeeper/model"
)

// Rule marks packets of Protocol to Address with a destination port in
// First..Last with Mark, for the fwmark service Service.
type Rule struct {
	Service     string
	Mark        uint32
	Protocol    model.Protocol
	Address     netip.Addr
	First, Last uint16
}

// Live is a rule read from the table, with its kernel handle. A rule not
// in the form hakeeper writes (added by hand) reads as the zero Rule and
// is deleted like any rule nobody wants.
type Live struct {
	Rule
	Handle uint64
}

func (r Rule) String() string {
	if r.Protocol == "" {
		return "rule not written by hakeeper"
	}
	ports := model.PortRange{First: int(r.First), Last: int(r.Last)}
	return fmt.Sprintf("%s %s port %s mark %d", r.Protocol, r.Address, ports, r.Mark)
}

// FromModel lists the rules of services' match entries: one per port
// range, so every rule is one plain comparison the kernel reads back
// as written (no anonymous sets).
func FromModel(services []model.VirtualService) []Rule {
	var out []Rule
	for _, vs := range services {
		for _, m := range vs.Match {
			for _, p := range m.Ports {
				out = append(out, Rule{vs.Name, vs.FWMark, m.Protocol, m.Address, uint16(p.First), uint16(p.Last)})
			}
		}
	}
	return out
}

// Table is hakeeper's nftables table, or a fake of it.
type Table interface {
	// Rules lists the table's rules; present is false when the table or
	// its chain is missing.
	Rules() (rules []Live, present bool, err error)
	// Write deletes del and adds add in one transaction, creating the
	// table and its chain first when missing.
	Write(del []Live, add []Rule) error
	// Remove deletes the table with everything in it.
	Remove() error
}

// Plan is what Sync writes: rules to add and to delete, and whether the
// table is removed (no rule is wanted). Write creates a missing table.
type Plan struct {
	Add         []Rule
	Delete      []Live
	RemoveTable bool
}

// Ops counts the plan's writes.
func (p Plan) Ops() int {
	n := len(p.Add) + len(p.Delete)
	if p.RemoveTable {
		n++
	}
	return n
}

// Diff plans the writes that take live (present: the table and chain
// exist) to desired. A live rule equal to a desired one stays, each
// desired rule keeping one live rule; every other live rule goes.
func Diff(desired []Rule, live []Live, present bool) Plan {
	var p Plan
	want := map[Rule]int{}
	for _, r := range desired {
		want[r]++
	}
	for _, l := range live {
		if want[l.Rule] > 0 {
			want[l.Rule]--
		} else {
			p.Delete = append(p.Delete, l)
		}
	}
	for _, r := range desired {
		if want[r] > 0 {
			want[r]--
			p.Add = append(p.Add, r)
		}
	}
	p.RemoveTable = present && len(desired) == 0
	return p
}

// Read plans against t's rules what Sync would write, writing nothing.
func Read(t Table, desired []Rule) (Plan, error) {
	live, present, err := t.Rules()
	return Diff(desired, live, present), err
}

// Sync makes t hold exactly desired and returns what it wrote.
func Sync(t Table, desired []Rule) (Plan, error) {
	p, err := Read(t, desired)
	if err != nil {
		return Plan{}, err
	}
	switch {
	case p.RemoveTable:
		err = t.Remove()
	case p.Ops() > 0:
		err = t.Write(p.Delete, p.Add)
	}
	return p, err
}

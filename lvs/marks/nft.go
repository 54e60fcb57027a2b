package marks

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
)

// The table and chain hakeeper owns: inet covers both families, and the
// chain marks in prerouting at mangle priority, where iptables' mangle
// PREROUTING rules mark, before IPVS sees the packet at input.
var (
	nftTable = &nftables.Table{Name: "hakeeper", Family: nftables.TableFamilyINet}
	nftChain = &nftables.Chain{Name: "fwmark", Table: nftTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle}
)

var protoNumbers = map[model.Protocol]byte{model.TCP: unix.IPPROTO_TCP, model.UDP: unix.IPPROTO_UDP, model.SCTP: unix.IPPROTO_SCTP}

// NFT is the kernel's nftables, through conn (nftables.New; in tests
// bound to a namespace with nftables.WithNetNSFd).
type NFT struct{ Conn *nftables.Conn }

// Open connects to the kernel's nftables and checks that it answers.
func Open(opts ...nftables.ConnOption) (Table, error) {
	conn, err := nftables.New(opts...)
	if err == nil {
		_, err = conn.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	return NFT{conn}, err
}

func (n NFT) Rules() ([]Live, bool, error) {
	chains, err := n.Conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, false, err
	}
	if !slices.ContainsFunc(chains, func(c *nftables.Chain) bool { return c.Table.Name == nftTable.Name && c.Name == nftChain.Name }) {
		return nil, false, nil
	}
	rules, err := n.Conn.GetRules(nftTable, nftChain)
	if err != nil {
		return nil, false, err
	}
	live := make([]Live, len(rules))
	for i, r := range rules {
		live[i] = Live{decode(r), r.Handle}
	}
	return live, true, nil
}

func (n NFT) Write(del []Live, add []Rule) error {
	n.Conn.AddTable(nftTable)
	n.Conn.AddChain(nftChain)
	for _, l := range del {
		if err := n.Conn.DelRule(&nftables.Rule{Table: nftTable, Chain: nftChain, Handle: l.Handle}); err != nil {
			return err
		}
	}
	for _, r := range add {
		n.Conn.AddRule(&nftables.Rule{Table: nftTable, Chain: nftChain, Exprs: encode(r),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Service)})
	}
	return n.Conn.Flush()
}

func (n NFT) Remove() error {
	n.Conn.DelTable(nftTable)
	return n.Conn.Flush()
}

// encode is the rule as nft would write it in an inet table:
//
//	meta nfproto ipv4 meta l4proto tcp ip daddr A tcp dport P meta mark set M
func encode(r Rule) []expr.Any {
	nfproto, offset := byte(unix.NFPROTO_IPV4), uint32(16)
	if r.Address.Is6() {
		nfproto, offset = unix.NFPROTO_IPV6, 24
	}
	addr := r.Address.AsSlice()
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumbers[r.Protocol]}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(addr))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
	first, last := binaryutil.BigEndian.PutUint16(r.First), binaryutil.BigEndian.PutUint16(r.Last)
	if r.First == r.Last {
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: first})
	} else {
		e = append(e, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: first, ToData: last})
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

// decode reads a rule back: the values are picked from where encode puts
// them, and the rule counts as hakeeper's only when encoding those values
// gives exactly the rule read. Anything else is the zero Rule.
func decode(r *nftables.Rule) Rule {
	if len(r.Exprs) != 10 {
		return Rule{}
	}
	var out Rule
	ud := r.UserData
	if len(ud) >= 2 && ud[0] == byte(userdata.TypeComment) && int(ud[1])+2 <= len(ud) {
		out.Service, _ = userdata.GetString(ud, userdata.TypeComment)
	}
	if c, ok := r.Exprs[3].(*expr.Cmp); ok && len(c.Data) == 1 {
		for p, n := range protoNumbers {
			if n == c.Data[0] {
				out.Protocol = p
			}
		}
	}
	if c, ok := r.Exprs[5].(*expr.Cmp); ok {
		out.Address, _ = netip.AddrFromSlice(c.Data)
	}
	switch c := r.Exprs[7].(type) {
	case *expr.Cmp:
		out.First, out.Last = port(c.Data), port(c.Data)
	case *expr.Range:
		out.First, out.Last = port(c.FromData), port(c.ToData)
	}
	if i, ok := r.Exprs[8].(*expr.Immediate); ok && len(i.Data) == 4 {
		out.Mark = binaryutil.NativeEndian.Uint32(i.Data)
	}
	if !out.Address.IsValid() || !reflect.DeepEqual(encode(out), r.Exprs) {
		return Rule{}
	}
	return out
}

func port(b []byte) uint16 {
	if len(b) != 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

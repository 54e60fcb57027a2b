package marks_test

import (
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	vnetns "github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netns"
)

var (
	vip4 = netip.MustParseAddr("10.99.0.100")
	vip6 = netip.MustParseAddr("2001:db8:99::100")
	// ftp marks FTP control and passive ports, in both families, and
	// dns is a second service whose rules must survive ftp's changes.
	ftp = []marks.Rule{
		{Service: "ftp", Mark: 21, Protocol: model.TCP, Address: vip4, First: 21, Last: 21},
		{Service: "ftp", Mark: 21, Protocol: model.TCP, Address: vip4, First: 10000, Last: 10100},
		{Service: "ftp6", Mark: 22, Protocol: model.TCP, Address: vip6, First: 21, Last: 21},
	}
	dns = marks.Rule{Service: "dns", Mark: 53, Protocol: model.UDP, Address: vip4, First: 53, Last: 53}
)

// lab is a director (n1, holding the VIPs) and a client (n2), with an
// nftables connection bound to the director's namespace.
func lab(t *testing.T) (director, client *netns.Node, conn *nftables.Conn) {
	l := netns.New(t, 2)
	director, client = l.Node(1), l.Node(2)
	director.MustExec(t, "ip", "addr", "add", vip4.String()+"/32", "dev", netns.NodeIface)
	director.MustExec(t, "ip", "addr", "add", vip6.String()+"/128", "dev", netns.NodeIface, "nodad")
	ns, err := vnetns.GetFromName(director.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	conn, err = nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return director, client, conn
}

// observer is a table of the test's own: a chain after mangle priority
// counting, per mark, the packets that reach it with that mark.
type observer struct {
	conn  *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
}

func newObserver(t *testing.T, conn *nftables.Conn, marksSeen ...uint32) *observer {
	o := &observer{conn: conn, table: &nftables.Table{Name: "observer", Family: nftables.TableFamilyINet}}
	conn.AddTable(o.table)
	o.chain = conn.AddChain(&nftables.Chain{Name: "seen", Table: o.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityMangle + 10)})
	for _, m := range marksSeen {
		conn.AddRule(&nftables.Rule{Table: o.table, Chain: o.chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(m)},
			&expr.Counter{},
		}})
	}
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	return o
}

// counts returns the packets counted per rule, in rule order.
func (o *observer) counts(t *testing.T) []uint64 {
	t.Helper()
	rules, err := o.conn.GetRules(o.table, o.chain)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, r := range rules {
		out = append(out, r.Exprs[2].(*expr.Counter).Packets)
	}
	return out
}

// connect opens a TCP connection from the client to addr:port. Nothing
// listens, so the director answers the SYN with a reset: when the
// command returns, the SYN has passed the director's prerouting hook.
func connect(t *testing.T, client *netns.Node, addr netip.Addr, port int) {
	t.Helper()
	out, err := client.Exec("bash", "-c", "exec 3<>/dev/tcp/"+addr.String()+"/"+strconv.Itoa(port))
	if err == nil {
		t.Fatalf("connect to %s port %d succeeded; nothing should listen there: %s", addr, port, out)
	}
}

// hakeeper's table and chain, as docs/operations.md names them.
var (
	hkTable = &nftables.Table{Name: "hakeeper", Family: nftables.TableFamilyINet}
	hkChain = &nftables.Chain{Name: "fwmark", Table: hkTable}
)

func liveRules(t *testing.T, tbl marks.Table) []marks.Rule {
	t.Helper()
	live, _, err := tbl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var out []marks.Rule
	for _, l := range live {
		out = append(out, l.Rule)
	}
	return out
}

func mustSync(t *testing.T, tbl marks.Table, desired []marks.Rule) marks.Plan {
	t.Helper()
	p, err := marks.Sync(tbl, desired)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The rules hakeeper writes read back as written, and give the declared
// traffic its mark: a packet to a matched port reaches a later chain
// marked, one to another port does not.
func TestNFTMarksDeclaredTraffic(t *testing.T) {
	_, client, conn := lab(t)
	tbl := marks.NFT{Conn: conn}
	obs := newObserver(t, conn, 21, 22)
	p := mustSync(t, tbl, ftp)
	if !slices.Equal(p.Add, ftp) || len(p.Delete) != 0 {
		t.Fatalf("first sync planned %+v, want every rule added", p)
	}
	if got := liveRules(t, tbl); !slices.Equal(got, ftp) {
		t.Fatalf("table holds %v, want %v", got, ftp)
	}
	if p := mustSync(t, tbl, ftp); p.Ops() != 0 {
		t.Fatalf("second sync planned %+v, want nothing", p)
	}

	connect(t, client, vip4, 21)
	connect(t, client, vip4, 10050)
	connect(t, client, vip4, 22)
	connect(t, client, vip6, 21)
	if got, want := obs.counts(t), []uint64{2, 1}; !slices.Equal(got, want) {
		t.Errorf("packets seen with mark 21 and 22: %v, want %v (ports 21 and 10050 of %s, port 21 of %s)", got, want, vip4, vip6)
	}
}

// Drift inside hakeeper's table is put back with the fewest writes; a
// rule in another table is never read nor touched; with no rule wanted
// the table goes and only it.
func TestNFTRepairsDriftAndTouchesNothingElse(t *testing.T) {
	_, _, conn := lab(t)
	tbl := marks.NFT{Conn: conn}
	obs := newObserver(t, conn, 21)
	desired := append(slices.Clone(ftp), dns)
	mustSync(t, tbl, desired)

	// A rule deleted by hand comes back alone.
	live, _, err := tbl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.DelRule(&nftables.Rule{Table: hkTable, Chain: hkChain, Handle: live[1].Handle}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if p := mustSync(t, tbl, desired); !slices.Equal(p.Add, []marks.Rule{ftp[1]}) || len(p.Delete) != 0 {
		t.Errorf("after a hand deletion the sync planned %+v, want only %v added", p, ftp[1])
	}

	// Rules added by hand to hakeeper's table go, the others stay: one
	// of another form, and a copy of ftp's first rule with the address
	// test inverted (daddr != VIP), which only differs where decoding
	// does not look.
	own, err := conn.GetRules(hkTable, hkChain)
	if err != nil {
		t.Fatal(err)
	}
	inverted := own[0]
	inverted.Handle, inverted.Exprs = 0, slices.Clone(own[0].Exprs)
	inverted.Exprs[5] = &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: vip4.AsSlice()}
	conn.AddRule(inverted)
	conn.AddRule(&nftables.Rule{Table: hkTable, Chain: hkChain, Exprs: []expr.Any{&expr.Counter{}}})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if p := mustSync(t, tbl, desired); len(p.Add) != 0 || len(p.Delete) != 2 || p.Delete[0].Rule != (marks.Rule{}) || p.Delete[1].Rule != (marks.Rule{}) {
		t.Errorf("after hand additions the sync planned %+v, want the two foreign rules deleted", p)
	}

	// A flushed table (rules gone, chain kept) is refilled, a deleted
	// one created again.
	conn.FlushTable(hkTable)
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if p := mustSync(t, tbl, desired); len(p.Add) != len(desired) || len(p.Delete) != 0 {
		t.Errorf("after the table was flushed the sync planned %+v, want every rule back", p)
	}
	conn.DelTable(hkTable)
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if p := mustSync(t, tbl, desired); len(p.Add) != len(desired) || len(p.Delete) != 0 {
		t.Errorf("after the table was deleted the sync planned %+v, want it and every rule back", p)
	}
	if got := liveRules(t, tbl); !reflect.DeepEqual(got, desired) {
		t.Errorf("table holds %v, want %v", got, desired)
	}

	// Removing a service removes its rules only.
	if p := mustSync(t, tbl, ftp); len(p.Delete) != 1 || p.Delete[0].Rule != dns || len(p.Add) != 0 {
		t.Errorf("dropping dns planned %+v, want its rule deleted", p)
	}
	// No rule wanted: hakeeper's table goes, the observer's stays intact.
	if p := mustSync(t, tbl, nil); !p.RemoveTable {
		t.Errorf("with no rule wanted the sync planned %+v, want the table removed", p)
	}
	if _, present, err := tbl.Rules(); err != nil || present {
		t.Errorf("hakeeper's table present %v (err %v) after removal", present, err)
	}
	if got := obs.counts(t); len(got) != 1 {
		t.Errorf("the observer's table holds %d rules, want its 1 untouched", len(got))
	}
	if p := mustSync(t, tbl, nil); p.Ops() != 0 {
		t.Errorf("with no table and no rule the sync planned %+v, want nothing", p)
	}
}

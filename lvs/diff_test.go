package lvs_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
)

var (
	web = lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Scheduler: "wlc"}
	dns = lvs.Service{Family: lvs.FamilyIPv6, Protocol: lvs.ProtocolUDP, Address: netip.MustParseAddr("2001:db8::53"), Port: 53, Scheduler: "sh", Flags: lvs.FlagSched1 | lvs.FlagSched2}
	fwm = lvs.Service{Family: lvs.FamilyIPv4, FWMark: 7, Scheduler: "rr", Flags: lvs.FlagPersistent, Timeout: 300, Netmask: 24}
)

func dest(addr string, port uint16, weight uint32) lvs.Destination {
	return lvs.Destination{Address: netip.MustParseAddr(addr), Port: port, Weight: weight}
}

// baseTable is a small table touching every kind of service.
func baseTable() []lvs.VirtualServer {
	return []lvs.VirtualServer{
		{Name: "web", Service: web, Destinations: []lvs.Destination{dest("198.51.100.1", 80, 1), dest("198.51.100.2", 80, 1)}},
		{Name: "dns", Service: dns, Destinations: []lvs.Destination{dest("2001:db8:1::1", 53, 5), dest("2001:db8:1::2", 53, 5)}},
		{Name: "mark", Service: fwm, Destinations: []lvs.Destination{
			{Address: netip.MustParseAddr("198.51.100.7"), Forwarding: lvs.ForwardDirect, Weight: 2, UpperThreshold: 100, LowerThreshold: 10}}},
	}
}

func cloneTable(t []lvs.VirtualServer) []lvs.VirtualServer {
	out := slices.Clone(t)
	for i := range out {
		out[i].Destinations = slices.Clone(out[i].Destinations)
	}
	return out
}

// programmed returns a fake holding table, all of it owned.
func programmed(t testing.TB, table []lvs.VirtualServer) (*lvstest.Fake, lvs.Owned) {
	t.Helper()
	fake := &lvstest.Fake{}
	plan, err := lvs.Diff(table, nil, nil, lvs.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lvs.Apply(fake, plan.Ops); err != nil {
		t.Fatal(err)
	}
	owned := lvs.Owned{}
	for _, vs := range table {
		owned[vs.Service.Key()] = struct{}{}
	}
	return fake, owned
}

func live(t testing.TB, fake *lvstest.Fake) []lvs.VirtualServer {
	t.Helper()
	table, err := lvs.ReadTable(fake)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func opStrings(ops []lvs.Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.String())
	}
	return out
}

func TestDiffInSyncIsEmpty(t *testing.T) {
	fake, owned := programmed(t, baseTable())
	plan, err := lvs.Diff(baseTable(), live(t, fake), owned, lvs.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Empty() || len(plan.Unmanaged)+len(plan.Conflicts)+len(plan.Adopted)+len(plan.Forgotten) != 0 {
		t.Fatalf("in-sync table planned %q, %+v", opStrings(plan.Ops), plan)
	}
}

func TestDiffSingleChangeIsOneOp(t *testing.T) {
	tests := []struct {
		desc   string
		change func(t []lvs.VirtualServer) []lvs.VirtualServer
		want   string
	}{
		{"scheduler", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[0].Service.Scheduler = "rr"; return t },
			"~ service tcp/192.0.2.10:80 scheduler wlc → rr"},
		{"scheduler flag dropped", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[1].Service.Flags = lvs.FlagSched2; return t },
			"~ service udp/[2001:db8::53]:53 flags sched1,sched2 → sched2"},
		{"persistence on", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[0].Service.Flags, t[0].Service.Timeout = lvs.FlagPersistent, 60
			return t
		}, "~ service tcp/192.0.2.10:80 flags none → persistent, timeout 0s → 60s"},
		{"persistence timeout", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[2].Service.Timeout = 600; return t },
			"~ service fwmark/ipv4/7 timeout 300s → 600s"},
		{"persistence netmask", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[2].Service.Netmask = 16; return t },
			"~ service fwmark/ipv4/7 netmask /24 → /16"},
		{"weight", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[0].Destinations[1].Weight = 5; return t },
			"~ destination 198.51.100.2:80 weight 1 → 5 (service tcp/192.0.2.10:80)"},
		{"weight to zero (drain)", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[1].Destinations[0].Weight = 0; return t },
			"~ destination [2001:db8:1::1]:53 weight 5 → 0 (service udp/[2001:db8::53]:53)"},
		{"forwarding", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[2].Destinations[0].Forwarding = lvs.ForwardTunnel
			return t
		},
			"~ destination 198.51.100.7:0 forwarding dr → tun (service fwmark/ipv4/7)"},
		{"upper threshold", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[2].Destinations[0].UpperThreshold = 0; return t },
			"~ destination 198.51.100.7:0 upper threshold 100 → 0 (service fwmark/ipv4/7)"},
		{"lower threshold", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[2].Destinations[0].LowerThreshold = 20; return t },
			"~ destination 198.51.100.7:0 lower threshold 10 → 20 (service fwmark/ipv4/7)"},
		{"destination added", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[0].Destinations = append(t[0].Destinations, dest("198.51.100.3", 8080, 3))
			return t
		}, "+ destination 198.51.100.3:8080 nat weight 3 (service tcp/192.0.2.10:80)"},
		{"destination removed", func(t []lvs.VirtualServer) []lvs.VirtualServer { t[0].Destinations = t[0].Destinations[1:]; return t },
			"- destination 198.51.100.1:80 nat weight 1 (service tcp/192.0.2.10:80)"},
		{"service without destinations added", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			return append(t, lvs.VirtualServer{Name: "new", Service: lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolSCTP,
				Address: netip.MustParseAddr("203.0.113.5"), Port: 3868, Scheduler: "mh", Flags: lvs.FlagSched1}})
		}, "+ service sctp/203.0.113.5:3868 mh flags=sched1"},
		{"owned service removed", func(t []lvs.VirtualServer) []lvs.VirtualServer { return t[:2] },
			"- service fwmark/ipv4/7 rr flags=persistent persistent=300s/24"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			fake, owned := programmed(t, baseTable())
			plan, err := lvs.Diff(tc.change(cloneTable(baseTable())), live(t, fake), owned, lvs.DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := opStrings(plan.Ops); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("ops = %q, want exactly [%q]", got, tc.want)
			}
			before := fake.Writes
			if _, err := lvs.Apply(fake, plan.Ops); err != nil {
				t.Fatal(err)
			}
			if fake.Writes-before != 1 {
				t.Errorf("apply made %d writes, want 1", fake.Writes-before)
			}
			again, err := lvs.Diff(tc.change(cloneTable(baseTable())), live(t, fake), owned, lvs.DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("after apply, plan is %q, want empty", opStrings(again.Ops))
			}
		})
	}
}

func TestDiffOrdersCreatesBeforeDeletes(t *testing.T) {
	tests := []struct {
		desc   string
		change func(t []lvs.VirtualServer) []lvs.VirtualServer
		want   []string
	}{
		{"every destination replaced", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[0].Destinations = []lvs.Destination{dest("198.51.100.8", 80, 1), dest("198.51.100.9", 80, 1)}
			return t
		}, []string{
			"+ destination 198.51.100.8:80 nat weight 1 (service tcp/192.0.2.10:80)",
			"+ destination 198.51.100.9:80 nat weight 1 (service tcp/192.0.2.10:80)",
			"- destination 198.51.100.1:80 nat weight 1 (service tcp/192.0.2.10:80)",
			"- destination 198.51.100.2:80 nat weight 1 (service tcp/192.0.2.10:80)",
		}},
		{"service moved to another port", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[0].Service.Port = 8080
			return t
		}, []string{
			"+ service tcp/192.0.2.10:8080 wlc",
			"+ destination 198.51.100.1:80 nat weight 1 (service tcp/192.0.2.10:8080)",
			"+ destination 198.51.100.2:80 nat weight 1 (service tcp/192.0.2.10:8080)",
			"- service tcp/192.0.2.10:80 wlc",
		}},
		{"update, add, reweight and remove in one service", func(t []lvs.VirtualServer) []lvs.VirtualServer {
			t[0].Service.Scheduler = "wrr"
			t[0].Destinations = []lvs.Destination{dest("198.51.100.2", 80, 4), dest("198.51.100.3", 80, 1)}
			return t
		}, []string{
			"~ service tcp/192.0.2.10:80 scheduler wlc → wrr",
			"+ destination 198.51.100.3:80 nat weight 1 (service tcp/192.0.2.10:80)",
			"~ destination 198.51.100.2:80 weight 1 → 4 (service tcp/192.0.2.10:80)",
			"- destination 198.51.100.1:80 nat weight 1 (service tcp/192.0.2.10:80)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			fake, owned := programmed(t, baseTable())
			plan, err := lvs.Diff(tc.change(cloneTable(baseTable())), live(t, fake), owned, lvs.DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := opStrings(plan.Ops); !slices.Equal(got, tc.want) {
				t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// randomTable draws a table over a small key space so two draws overlap.
func randomTable(r *rand.Rand) []lvs.VirtualServer {
	var table []lvs.VirtualServer
	scheds := []string{"rr", "wrr", "wlc", "sh"}
	for port := uint16(1); port <= 6; port++ {
		if r.IntN(3) == 0 {
			continue
		}
		svc := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.1"),
			Port: port, Scheduler: scheds[r.IntN(len(scheds))]}
		if r.IntN(2) == 0 {
			svc.Flags, svc.Timeout = lvs.FlagPersistent, uint32(60*r.IntN(3))
		}
		var dests []lvs.Destination
		for host := 1; host <= 6; host++ {
			if r.IntN(2) == 0 {
				dests = append(dests, lvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(host)}), Port: 80,
					Weight: uint32(r.IntN(3)), Forwarding: lvs.Forwarding(r.IntN(2) * 3)})
			}
		}
		table = append(table, lvs.VirtualServer{Name: fmt.Sprint("s", port), Service: svc, Destinations: dests})
	}
	return table
}

// TestApplyNeverEmptiesADesiredService applies random transitions one
// operation at a time and checks, after each, that no service which had
// destinations before and should have some after is left with none.
func TestApplyNeverEmptiesADesiredService(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		old, next := randomTable(r), randomTable(r)
		fake, owned := programmed(t, old)
		plan, err := lvs.Diff(next, live(t, fake), owned, lvs.DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mustKeep := map[lvs.ServiceKey]bool{}
		for _, o := range old {
			for _, n := range next {
				if o.Service.Key() == n.Service.Key() && len(o.Destinations) > 0 && len(n.Destinations) > 0 {
					mustKeep[o.Service.Key()] = true
				}
			}
		}
		for i, op := range plan.Ops {
			if _, err := lvs.Apply(fake, []lvs.Op{op}); err != nil {
				t.Fatalf("round %d op %d %s: %v", round, i, op, err)
			}
			for _, vs := range fake.Table() {
				if mustKeep[vs.Service.Key()] && len(vs.Destinations) == 0 {
					t.Fatalf("round %d: after %q service %s has no destination\nplan: %q", round, op, vs.Service.Key(), opStrings(plan.Ops))
				}
			}
		}
		after, err := lvs.Diff(next, live(t, fake), owned, lvs.DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !after.Empty() {
			t.Fatalf("round %d: after applying, plan is %q", round, opStrings(after.Ops))
		}
	}
}

func TestDiffOwnership(t *testing.T) {
	other := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("203.0.113.1"), Port: 443, Scheduler: "rr"}
	tests := []struct {
		desc          string
		owned         []lvs.ServiceKey
		adopt         bool
		wantOps       []string
		wantConflicts int
		wantAdopted   []lvs.ServiceKey
		wantUnmanaged []lvs.ServiceKey
		wantForgotten []lvs.ServiceKey
	}{
		{desc: "owned and desired, changed: updated", owned: []lvs.ServiceKey{web.Key()},
			wantOps:       []string{"~ service tcp/192.0.2.10:80 scheduler rr → wlc"},
			wantUnmanaged: []lvs.ServiceKey{other.Key()}},
		{desc: "not owned, desired key: conflict, untouched", owned: nil,
			wantConflicts: 1, wantUnmanaged: []lvs.ServiceKey{other.Key()}},
		{desc: "not owned, desired key, adopt: taken over and updated", adopt: true,
			wantOps:       []string{"~ service tcp/192.0.2.10:80 scheduler rr → wlc"},
			wantAdopted:   []lvs.ServiceKey{web.Key()},
			wantUnmanaged: []lvs.ServiceKey{other.Key()}},
		{desc: "owned, no longer desired: deleted", owned: []lvs.ServiceKey{web.Key(), other.Key()},
			wantOps: []string{"~ service tcp/192.0.2.10:80 scheduler rr → wlc", "- service tcp/203.0.113.1:443 rr"}},
		{desc: "owned, gone from kernel and cluster: forgotten", owned: []lvs.ServiceKey{web.Key(), dns.Key()},
			wantOps:       []string{"~ service tcp/192.0.2.10:80 scheduler rr → wlc"},
			wantUnmanaged: []lvs.ServiceKey{other.Key()}, wantForgotten: []lvs.ServiceKey{dns.Key()}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			liveWeb := web
			liveWeb.Scheduler = "rr"
			fake := &lvstest.Fake{}
			for _, s := range []lvs.Service{liveWeb, other} {
				if err := fake.AddService(s); err != nil {
					t.Fatal(err)
				}
			}
			owned := lvs.Owned{}
			for _, k := range tc.owned {
				owned[k] = struct{}{}
			}
			desired := []lvs.VirtualServer{{Name: "web", Service: web}}
			plan, err := lvs.Diff(desired, live(t, fake), owned, lvs.DiffOptions{Adopt: tc.adopt})
			if err != nil {
				t.Fatal(err)
			}
			if got := opStrings(plan.Ops); !slices.Equal(got, tc.wantOps) {
				t.Errorf("ops = %q, want %q", got, tc.wantOps)
			}
			if len(plan.Conflicts) != tc.wantConflicts {
				t.Errorf("conflicts = %v, want %d", plan.Conflicts, tc.wantConflicts)
			}
			if !slices.Equal(plan.Adopted, tc.wantAdopted) {
				t.Errorf("adopted = %v, want %v", plan.Adopted, tc.wantAdopted)
			}
			var unmanaged []lvs.ServiceKey
			for _, s := range plan.Unmanaged {
				unmanaged = append(unmanaged, s.Key())
			}
			if !slices.Equal(unmanaged, tc.wantUnmanaged) {
				t.Errorf("unmanaged = %v, want %v", unmanaged, tc.wantUnmanaged)
			}
			if !slices.Equal(plan.Forgotten, tc.wantForgotten) {
				t.Errorf("forgotten = %v, want %v", plan.Forgotten, tc.wantForgotten)
			}
		})
	}
}

func TestDiffRejectsDuplicates(t *testing.T) {
	tests := []struct {
		desc    string
		desired []lvs.VirtualServer
		want    string
	}{
		{"same service twice", []lvs.VirtualServer{{Name: "a", Service: web}, {Name: "b", Service: web}},
			`services "a" and "b" are both IPVS service tcp/192.0.2.10:80`},
		{"same destination twice", []lvs.VirtualServer{{Name: "a", Service: web,
			Destinations: []lvs.Destination{dest("198.51.100.1", 80, 1), dest("198.51.100.1", 80, 2)}}},
			`service "a" (tcp/192.0.2.10:80) lists destination 198.51.100.1:80 twice`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := lvs.Diff(tc.desired, nil, nil, lvs.DiffOptions{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDiffManyDestinations(t *testing.T) {
	// Above the linear-scan size, matching goes through maps: same result.
	var dests []lvs.Destination
	for i := range 40 {
		dests = append(dests, lvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Weight: 1})
	}
	table := []lvs.VirtualServer{{Name: "big", Service: web, Destinations: dests}}
	fake, owned := programmed(t, table)
	changed := cloneTable(table)
	changed[0].Destinations[17].Weight = 9
	changed[0].Destinations = append(changed[0].Destinations[:30], lvs.Destination{Address: netip.MustParseAddr("198.51.100.200"), Port: 80, Weight: 1})
	plan, err := lvs.Diff(changed, live(t, fake), owned, lvs.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[lvs.OpKind]int{}
	for _, op := range plan.Ops {
		kinds[op.Kind]++
	}
	if kinds[lvs.OpAddDestination] != 1 || kinds[lvs.OpUpdateDestination] != 1 || kinds[lvs.OpDeleteDestination] != 10 || len(plan.Ops) != 12 {
		t.Fatalf("ops = %q", opStrings(plan.Ops))
	}
}

func BenchmarkDiffInSync(b *testing.B) {
	const services, perService = 10000, 10
	table := make([]lvs.VirtualServer, 0, services)
	owned := lvs.Owned{}
	for i := range services {
		svc := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP,
			Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Scheduler: "wlc"}
		dests := make([]lvs.Destination, perService)
		for j := range dests {
			dests[j] = lvs.Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), Port: uint16(8000 + j), Weight: 1}
		}
		table = append(table, lvs.VirtualServer{Name: fmt.Sprint("svc", i), Service: svc, Destinations: dests})
		owned[svc.Key()] = struct{}{}
	}
	liveTable := cloneTable(table)
	b.ReportAllocs()
	for b.Loop() {
		plan, err := lvs.Diff(table, liveTable, owned, lvs.DiffOptions{})
		if err != nil || !plan.Empty() {
			b.Fatalf("plan %d ops, err %v", len(plan.Ops), err)
		}
	}
}

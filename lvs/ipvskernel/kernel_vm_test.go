//go:build vmtest

package ipvskernel_test

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func rs(addr string, port uint16, weight int) model.RealServerSpec {
	return model.RealServerSpec{Address: netip.MustParseAddr(addr), Port: port, Weight: weight}
}

// everyFeature is a desired table using every service and destination
// feature hakeeper programs.
func everyFeature() []model.VirtualService {
	v4 := netip.MustParseAddr("192.0.2.10")
	v6 := netip.MustParseAddr("2001:db8::10")
	svc := func(name string, proto model.Protocol, port uint16, sched string, fwd model.Forwarding, servers ...model.RealServerSpec) model.VirtualService {
		return model.VirtualService{Name: name, Family: model.IPv4, Protocol: proto, Address: v4, Port: port,
			Scheduler: sched, Forwarding: fwd, RealServers: servers}
	}
	table := []model.VirtualService{
		svc("rr-nat", model.TCP, 1, "rr", model.NAT, rs("198.51.100.1", 8080, 1), rs("198.51.100.2", 8081, 2)),
		svc("wrr-dr", model.TCP, 2, "wrr", model.DR, rs("198.51.100.1", 2, 3), rs("198.51.100.2", 2, 0)),
		svc("lc-tun", model.UDP, 3, "lc", model.Tunnel, rs("198.51.100.3", 3, 1)),
		svc("wlc-sctp", model.SCTP, 4, "wlc", model.NAT, rs("198.51.100.4", 4, 65535)),
		svc("dh", model.TCP, 5, "dh", model.NAT, rs("198.51.100.5", 5, 1)),
		svc("sed", model.TCP, 6, "sed", model.NAT, rs("198.51.100.6", 6, 1)),
		svc("nq", model.UDP, 7, "nq", model.NAT, rs("198.51.100.7", 7, 1)),
		svc("sh-flags", model.TCP, 8, "sh", model.NAT, rs("198.51.100.8", 8, 1)),
		svc("mh-flags", model.UDP, 9, "mh", model.DR, rs("198.51.100.9", 9, 1)),
		svc("persistent", model.TCP, 10, "wlc", model.NAT, rs("198.51.100.10", 10, 1)),
		svc("thresholds", model.TCP, 11, "wlc", model.NAT,
			model.RealServerSpec{Address: netip.MustParseAddr("198.51.100.11"), Port: 11, Weight: 4, UpperThreshold: 100, LowerThreshold: 20}),
		svc("no-servers", model.TCP, 12, "rr", model.NAT),
		{Name: "v6", Family: model.IPv6, Protocol: model.TCP, Address: v6, Port: 443, Scheduler: "wrr", Forwarding: model.NAT,
			Persistence: 90 * time.Second, PersistenceMask: 64,
			RealServers: []model.RealServerSpec{rs("2001:db8:1::1", 8443, 2), rs("2001:db8:1::2", 8443, 1)}},
		{Name: "v6-dr", Family: model.IPv6, Protocol: model.UDP, Address: v6, Port: 53, Scheduler: "sh", SchedulerFlags: []string{"sh-port"},
			Forwarding: model.DR, RealServers: []model.RealServerSpec{rs("2001:db8:1::3", 53, 1)}},
		{Name: "fwmark4", Family: model.IPv4, FWMark: 1, Scheduler: "rr", Forwarding: model.DR,
			Persistence: 5 * time.Minute, PersistenceMask: 24, RealServers: []model.RealServerSpec{rs("198.51.100.20", 0, 1), rs("198.51.100.21", 0, 1)}},
		{Name: "fwmark6", Family: model.IPv6, FWMark: 2, Scheduler: "wlc", Forwarding: model.Tunnel,
			RealServers: []model.RealServerSpec{rs("2001:db8:1::20", 0, 1)}},
	}
	table[7].SchedulerFlags = []string{"sh-fallback", "sh-port"}
	table[8].SchedulerFlags = []string{"mh-fallback", "mh-port"}
	table[9].Persistence, table[9].PersistenceMask = 300*time.Second, 32
	return table
}

// TestEveryFeatureRoundTrips creates every feature through the kernel,
// reads it back equal, and plans nothing afterwards.
func TestEveryFeatureRoundTrips(t *testing.T) {
	nsPath, _ := newNetns(t)
	k := openKernel(t, nsPath)
	desired := lvs.TableFromModel(everyFeature())
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	plan, done, err := p.Sync(desired)
	if err != nil {
		t.Fatalf("sync: %v (after %d of %d ops)", err, done, len(plan.Ops))
	}

	live, err := lvs.ReadTable(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != len(desired) {
		t.Fatalf("kernel holds %d services, want %d", len(live), len(desired))
	}
	for _, want := range desired {
		i := slices.IndexFunc(live, func(l lvs.VirtualServer) bool { return l.Service.Key() == want.Service.Key() })
		if i < 0 {
			t.Errorf("%s: %s missing from the kernel", want.Name, want.Service.Key())
			continue
		}
		got := live[i]
		if !got.Service.Equal(want.Service) {
			t.Errorf("%s: kernel has %+v, want %+v", want.Name, got.Service, want.Service)
		}
		if len(got.Destinations) != len(want.Destinations) {
			t.Errorf("%s: kernel has destinations %+v, want %+v", want.Name, got.Destinations, want.Destinations)
			continue
		}
		for _, wd := range want.Destinations {
			if !slices.ContainsFunc(got.Destinations, wd.Equal) {
				t.Errorf("%s: destination %+v not in kernel's %+v", want.Name, wd, got.Destinations)
			}
		}
	}

	again, err := p.Plan(desired)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Empty() || len(again.Unmanaged) != 0 || len(again.Conflicts) != 0 {
		t.Fatalf("plan after apply is not empty: %q unmanaged %v conflicts %v", opStrings(again.Ops), again.Unmanaged, again.Conflicts)
	}

	// ipvsadm reads the same table independently of our decoding.
	saved := ipvsadm(t, nsPath, "", "-S", "-n")
	for _, line := range []string{
		"-A -t 192.0.2.10:1 -s rr",
		"-a -t 192.0.2.10:1 -r 198.51.100.1:8080 -m -w 1",
		"-a -t 192.0.2.10:2 -r 198.51.100.2:2 -g -w 0",
		"-a -u 192.0.2.10:3 -r 198.51.100.3:3 -i -w 1",
		"-A --sctp-service 192.0.2.10:4 -s wlc",
		"-a --sctp-service 192.0.2.10:4 -r 198.51.100.4:4 -m -w 65535",
		"-A -t 192.0.2.10:8 -s sh -b sh-fallback,sh-port",
		"-A -u 192.0.2.10:9 -s mh -b mh-fallback,mh-port",
		"-A -t 192.0.2.10:10 -s wlc -p 300",
		"-A -t [2001:db8::10]:443 -s wrr -p 90 -M 64",
		"-A -f 1 -s rr -p 300 -M 255.255.255.0",
		"-A -f 2 -6 -s wlc",
	} {
		if !strings.Contains(saved+"\n", line+"\n") && !strings.Contains(saved, line+" ") {
			t.Errorf("ipvsadm -S lacks %q:\n%s", line, saved)
		}
	}
	// -S leaves thresholds out; the listing shows them.
	listing := ipvsadm(t, nsPath, "", "-L", "-n", "--thresholds", "-t", "192.0.2.10:11")
	found := false
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "->" && f[1] == "198.51.100.11:11" {
			found = f[2] == "100" && f[3] == "20"
		}
	}
	if !found {
		t.Errorf("ipvsadm does not show thresholds 100/20 for 198.51.100.11:11:\n%s", listing)
	}
}

func opStrings(ops []lvs.Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.String())
	}
	return out
}

// TestOneChangeOneWrite checks minimality against the kernel: each
// single change is one write, the plan after it is empty, and a scheduler
// change keeps the service (and its destinations) in place.
func TestOneChangeOneWrite(t *testing.T) {
	nsPath, _ := newNetns(t)
	k := &counting{IPVS: openKernel(t, nsPath)}
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	base := everyFeature()
	if _, _, err := p.Sync(lvs.TableFromModel(base)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc   string
		change func(vs []model.VirtualService)
		kind   lvs.OpKind
	}{
		{"scheduler", func(vs []model.VirtualService) { vs[0].Scheduler = "wrr" }, lvs.OpUpdateService},
		{"scheduler flags", func(vs []model.VirtualService) { vs[7].SchedulerFlags = []string{"sh-port"} }, lvs.OpUpdateService},
		{"persistence timeout", func(vs []model.VirtualService) { vs[9].Persistence = time.Hour }, lvs.OpUpdateService},
		{"persistence mask", func(vs []model.VirtualService) { vs[14].PersistenceMask = 16 }, lvs.OpUpdateService},
		{"weight", func(vs []model.VirtualService) { vs[1].RealServers[1].Weight = 7 }, lvs.OpUpdateDestination},
		{"thresholds", func(vs []model.VirtualService) { vs[10].RealServers[0].UpperThreshold = 500 }, lvs.OpUpdateDestination},
		{"forwarding", func(vs []model.VirtualService) { vs[2].Forwarding = model.DR }, lvs.OpUpdateDestination},
		{"real server added", func(vs []model.VirtualService) {
			vs[11].RealServers = append(vs[11].RealServers, rs("198.51.100.12", 12, 1))
		}, lvs.OpAddDestination},
		{"real server removed", func(vs []model.VirtualService) { vs[0].RealServers = vs[0].RealServers[:1] }, lvs.OpDeleteDestination},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.change(base)
			desired := lvs.TableFromModel(base)
			before := k.writes
			plan, _, err := p.Sync(desired)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Ops) != 1 || plan.Ops[0].Kind != tc.kind || k.writes-before != 1 {
				t.Fatalf("plan %q, %d writes; want one %s", opStrings(plan.Ops), k.writes-before, tc.kind)
			}
			again, err := p.Plan(desired)
			if err != nil || !again.Empty() {
				t.Fatalf("plan after apply: %q, %v", opStrings(again.Ops), err)
			}
		})
	}
	// The scheduler change above was made in place: rr-nat kept its
	// destination throughout, so its active-connection state was never dropped.
	saved := ipvsadm(t, nsPath, "", "-S", "-n")
	if !strings.Contains(saved, "-A -t 192.0.2.10:1 -s wrr") || !strings.Contains(saved, "-a -t 192.0.2.10:1 -r 198.51.100.1:8080") {
		t.Errorf("ipvsadm -S:\n%s", saved)
	}
}

// TestRestartAdoptsWithoutWrites: a new handle and programmer with the
// same ownership record (a restarted daemon) make no write and no flush.
func TestRestartAdoptsWithoutWrites(t *testing.T) {
	nsPath, _ := newNetns(t)
	state := filepath.Join(t.TempDir(), "ipvs-owned.json")
	desired := lvs.TableFromModel(everyFeature())
	first := openKernel(t, nsPath)
	if _, _, err := (&lvs.Programmer{IPVS: first, StatePath: state}).Sync(desired); err != nil {
		t.Fatal(err)
	}
	before := ipvsadm(t, nsPath, "", "-S", "-n")
	first.Close()

	k := &counting{IPVS: openKernel(t, nsPath)}
	plan, done, err := (&lvs.Programmer{IPVS: k, StatePath: state}).Sync(desired)
	if err != nil || done != 0 || !plan.Empty() || len(plan.Conflicts) != 0 || len(plan.Unmanaged) != 0 {
		t.Fatalf("restart: plan %q conflicts %v unmanaged %v err %v", opStrings(plan.Ops), plan.Conflicts, plan.Unmanaged, err)
	}
	if k.writes != 0 {
		t.Fatalf("restart made %d writes", k.writes)
	}
	if after := ipvsadm(t, nsPath, "", "-S", "-n"); after != before {
		t.Errorf("table changed across restart:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestForeignServicesUntouched: services made by someone else (moby/ipvs
// directly, ipvsadm) survive a sync unchanged and are reported unmanaged;
// one squatting a desired key is a conflict, not adopted.
func TestForeignServicesUntouched(t *testing.T) {
	nsPath, _ := newNetns(t)
	h, err := ipvs.New(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	foreign := &ipvs.Service{AddressFamily: 2, Protocol: 6, Address: netip.MustParseAddr("203.0.113.1").AsSlice(), Port: 443,
		SchedName: "rr", Netmask: 0xffffffff}
	if err := h.NewService(foreign); err != nil {
		t.Fatal(err)
	}
	if err := h.NewDestination(foreign, &ipvs.Destination{Address: netip.MustParseAddr("198.51.100.99").AsSlice(), Port: 443, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	ipvsadm(t, nsPath, "", "-A", "-u", "203.0.113.2:53", "-s", "lc")
	// Squats the key of desired service rr-nat with another scheduler.
	ipvsadm(t, nsPath, "", "-A", "-t", "192.0.2.10:1", "-s", "dh")
	before := ipvsadm(t, nsPath, "", "-S", "-n")

	k := openKernel(t, nsPath)
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	plan, _, err := p.Sync(lvs.TableFromModel(everyFeature()))
	if err != nil {
		t.Fatal(err)
	}
	var unmanaged []string
	for _, s := range plan.Unmanaged {
		unmanaged = append(unmanaged, s.Key().String())
	}
	if strings.Join(unmanaged, " ") != "tcp/203.0.113.1:443 udp/203.0.113.2:53" {
		t.Errorf("unmanaged = %v", unmanaged)
	}
	if len(plan.Conflicts) != 1 || plan.Conflicts[0].Name != "rr-nat" {
		t.Errorf("conflicts = %+v, want rr-nat", plan.Conflicts)
	}
	after := ipvsadm(t, nsPath, "", "-S", "-n")
	for _, line := range strings.Split(strings.TrimSpace(before), "\n") {
		if !strings.Contains(after, line) {
			t.Errorf("foreign entry %q changed or vanished:\n%s", line, after)
		}
	}
	// Deleting everything we own leaves exactly the foreign entries.
	if _, _, err := p.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if final := ipvsadm(t, nsPath, "", "-S", "-n"); final != before {
		t.Errorf("after removing ours:\n%s\nwant the foreign table:\n%s", final, before)
	}
}

// TestLocalDestination: a real server at one of the director's own
// addresses reads back with the forwarding method it was given, so it
// never shows as a change.
func TestLocalDestination(t *testing.T) {
	nsPath, _ := newNetns(t)
	k := openKernel(t, nsPath)
	p := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	desired := lvs.TableFromModel([]model.VirtualService{
		{Name: "local", Family: model.IPv4, Protocol: model.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80,
			Scheduler: "rr", Forwarding: model.NAT, RealServers: []model.RealServerSpec{rs("127.0.0.1", 8080, 1)}},
		{Name: "local-dr", Family: model.IPv4, Protocol: model.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 81,
			Scheduler: "rr", Forwarding: model.DR, RealServers: []model.RealServerSpec{rs("127.0.0.1", 81, 1)}},
	})
	if _, _, err := p.Sync(desired); err != nil {
		t.Fatal(err)
	}
	plan, err := p.Plan(desired)
	if err != nil || !plan.Empty() {
		t.Fatalf("plan after apply: %q, %v", opStrings(plan.Ops), err)
	}
}

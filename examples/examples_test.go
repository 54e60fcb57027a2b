// Package examples_test loads every example cluster repository and checks
// that each resolves, on every node, to the behaviour its README promises.
package examples_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// load reads dir's *.yaml files in name order, as the CLI does.
func load(t *testing.T, dir string) *model.Cluster {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: no YAML files (%v)", dir, err)
	}
	slices.Sort(names)
	var files []model.File
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, model.File{Name: n, Data: data})
	}
	c, err := model.Load(files)
	if err != nil {
		t.Fatalf("%s does not load:\n%v", dir, err)
	}
	return c
}

// states resolves every node of the example.
func states(t *testing.T, dir string) map[string]*model.NodeState {
	t.Helper()
	c := load(t, dir)
	out := map[string]*model.NodeState{}
	for name := range c.Nodes {
		st, err := model.Desired(c, name)
		if err != nil {
			t.Fatalf("%s: Desired(%s): %v", dir, name, err)
		}
		out[name] = st
	}
	return out
}

func TestEveryExampleLoads(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := e.Name()
		n++
		t.Run(d, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
				t.Errorf("%s has no README.md", d)
			}
			for node, st := range states(t, d) {
				if len(st.Instances) == 0 && st.RealServer == nil {
					t.Errorf("%s: node %s runs no VRRP instance and is no real server", d, node)
				}
			}
		})
	}
	if n < 5 {
		t.Errorf("found %d examples, want at least 5", n)
	}
}

func TestNginxPair(t *testing.T) {
	sts := states(t, "nginx-pair")
	web1, web2 := sts["web1"].Instances[0], sts["web2"].Instances[0]
	if web1.Priority != 200 || web2.Priority != 100 {
		t.Fatalf("priorities web1 %d web2 %d, want 200 and 100", web1.Priority, web2.Priority)
	}
	for name, st := range sts {
		inst := st.Instances[0]
		if len(inst.TrackChecks) != 1 || inst.TrackChecks[0].Check != "nginx" || len(st.Checks) != 1 {
			t.Fatalf("%s: tracked checks %v / %v", name, inst.TrackChecks, st.Checks)
		}
		if st.Checks[0].User != "hakeeper" || !slices.Equal(st.Checks[0].Command.Args(), []string{"/usr/bin/pidof", "nginx"}) {
			t.Errorf("%s: check %+v", name, st.Checks[0])
		}
	}
	// The point of the example: a failing check on web1 hands over the VIP.
	if failed := int(web1.Priority) + web1.TrackChecks[0].Weight; failed >= int(web2.Priority) || failed < 1 {
		t.Errorf("web1 with nginx down has priority %d; web2 (%d) would not take over", failed, web2.Priority)
	}
}

func TestLVSDR(t *testing.T) {
	for name, st := range states(t, "lvs-dr") {
		if name == "web1" || name == "web2" {
			// Real servers: the VIP on lo, ARP quiet for it, no VRRP.
			role := st.RealServer
			if len(st.Instances) != 0 || len(st.Services) != 0 || role == nil || len(role.VIPs) != 1 ||
				role.VIPs[0].Prefix != netip.MustParsePrefix("192.0.2.100/32") || role.VIPs[0].Device != "lo" || len(role.Sysctls) != 2 {
				t.Errorf("%s: %+v, role %+v", name, st, role)
			}
			continue
		}
		if st.RealServer != nil {
			t.Errorf("%s: a director with a real-server role %+v", name, st.RealServer)
		}
		if cs := st.ConnectionSync; cs == nil || cs.Group != "www" || cs.Interface != "eth0" || cs.SyncID != 10 {
			t.Errorf("%s: connection sync %+v, want www's on eth0 with sync ID 10", name, cs)
		}
		if len(st.Services) != 1 {
			t.Fatalf("%s: services %v", name, st.Services)
		}
		s := st.Services[0]
		if s.Forwarding != model.DR || s.Address != netip.MustParseAddr("192.0.2.100") || s.Port != 80 || s.Protocol != model.TCP || s.Group != "www" {
			t.Errorf("%s: service %+v", name, s)
		}
		if len(s.RealServers) != 2 {
			t.Fatalf("%s: real servers %+v", name, s.RealServers)
		}
		for _, rs := range s.RealServers {
			if rs.Port != 80 || rs.Check == nil || rs.Check.Type != "tcp" || rs.Check.Port != 80 || rs.Check.Interval != 3*time.Second {
				t.Errorf("%s: real server %+v check %+v", name, rs, rs.Check)
			}
		}
		if vip := st.Instances[0].VIPs[0].Prefix; vip != netip.MustParsePrefix("192.0.2.100/32") {
			t.Errorf("%s: VIP %v", name, vip)
		}
	}
}

func TestDualMaster(t *testing.T) {
	preferred := map[string]string{}
	for name, st := range states(t, "dual-master") {
		if len(st.Instances) != 2 {
			t.Fatalf("%s: instances %d, want 2", name, len(st.Instances))
		}
		var mastered []string
		for _, inst := range st.Instances {
			if inst.Preference[0].Node == name {
				mastered = append(mastered, inst.Name)
				preferred[inst.Name] = name
			}
		}
		if len(mastered) != 1 {
			t.Errorf("%s is preferred for %v, want exactly one group", name, mastered)
		}
	}
	if len(preferred) != 2 {
		t.Errorf("preferred nodes %v: want one per group", preferred)
	}
}

func TestFTPFWMark(t *testing.T) {
	for name, st := range states(t, "ftp-fwmark") {
		if len(st.Services) != 2 {
			t.Fatalf("%s: %d services, want ftp and rest", name, len(st.Services))
		}
		ftp, rest := st.Services[0], st.Services[1]
		if ftp.FWMark != 21 || ftp.Group != "ftp" || ftp.Persistence != 900*time.Second || ftp.PersistenceMask != 32 || ftp.Scheduler != "wrr" || ftp.Address.IsValid() {
			t.Errorf("%s: ftp %+v", name, ftp)
		}
		for _, rs := range ftp.RealServers {
			if rs.Port != 0 || rs.Check == nil || rs.Check.Port != 21 {
				t.Errorf("%s: ftp real server %+v check %+v: want no port, checked on 21", name, rs, rs.Check)
			}
		}
		if rest.Port != 8080 || rest.Scheduler != "wrr" || rest.Persistence != 0 || rest.RealServers[0].Weight != 2 || rest.RealServers[0].Check.Type != "http" {
			t.Errorf("%s: rest %+v", name, rest)
		}
	}
}

func TestCloudUnicast(t *testing.T) {
	sts := states(t, "cloud-unicast")
	for name, st := range sts {
		if len(st.Instances) != 2 {
			t.Fatalf("%s: %d instances", name, len(st.Instances))
		}
		for _, inst := range st.Instances {
			if !inst.Unicast || len(inst.Peers) != 2 {
				t.Errorf("%s/%s: unicast %v peers %v", name, inst.Name, inst.Unicast, inst.Peers)
			}
			own := st.Address
			if inst.Family == model.IPv6 {
				own = st.Address6
			}
			if inst.SourceAddress != own || slices.Contains(inst.Peers, own) {
				t.Errorf("%s/%s: source %v peers %v", name, inst.Name, inst.SourceAddress, inst.Peers)
			}
			for _, p := range inst.Peers {
				if (inst.Family == model.IPv6) != p.Is6() {
					t.Errorf("%s/%s: peer %v of the wrong family", name, inst.Name, p)
				}
			}
		}
	}
	if sts["node-a"].Instances[0].Priority != 200 || sts["node-b"].Instances[1].Priority != 200 {
		t.Errorf("api-v4 should prefer node-a and api-v6 node-b")
	}
}

func TestBGPECMP(t *testing.T) {
	for name, st := range states(t, "bgp-ecmp") {
		b := st.BGP
		if len(st.Instances) != 0 || b == nil || len(b.Groups) != 1 || len(b.Peers) != 1 {
			t.Fatalf("%s: instances %v, BGP %+v", name, st.Instances, b)
		}
		if g := b.Groups[0]; g.MED != 0 || g.Prepend != 0 || !slices.Equal(g.Services, []string{"www"}) || !slices.Equal(g.TrackChecks, []string{"in-service"}) {
			t.Errorf("%s: group %+v, want ECMP with www and in-service", name, g)
		}
		if p := b.Peers[0]; p.BFDInterval != 300*time.Millisecond || p.BFDMultiplier != 3 || p.HoldTime != 9*time.Second || p.Keepalive != 3*time.Second {
			t.Errorf("%s: peer %+v", name, p)
		}
		if b.RouterID.String() != st.Address.String() || b.DrainTime != 10*time.Second {
			t.Errorf("%s: router id %s, drain %s", name, b.RouterID, b.DrainTime)
		}
		if s := st.Services[0]; s.Scheduler != "mh" || s.Quorum != 2 {
			t.Errorf("%s: service %+v, want mh with quorum 2", name, s)
		}
		role := st.RealServer
		if role == nil || len(role.VIPs) != 1 || role.VIPs[0].Device != "lo" || len(role.Sysctls) != 2 || role.Sysctls[1].Name != "net.ipv4.vs.sloppy_tcp" {
			t.Errorf("%s: role %+v", name, role)
		}
	}
	c := load(t, "bgp-ecmp")
	if w := model.Warnings(c); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}

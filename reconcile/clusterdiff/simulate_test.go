package clusterdiff_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/clusterdiff"
	"github.com/hakeeper/hakeeper/render"
)

// skew is RFC 5798's Skew_Time of a backup at prio for a unit interval.
func skew(prio int, unit time.Duration) time.Duration { return time.Duration(256-prio) * unit / 256 }

func TestSimulate(t *testing.T) {
	tests := []struct {
		name     string
		edits    []string
		failures clusterdiff.Failures
		golden   bool
		// group is the VIP group checked: its holder after, the window,
		// and whether nobody holds the VIPs meanwhile.
		group    string
		after    string
		window   time.Duration
		outage   bool
		degraded bool
		check    func(t *testing.T, s *clusterdiff.Simulation)
	}{
		{name: "healthy", group: "web", after: "lb1"},
		{
			// lb2 (priority 100 of the pair) takes over when lb1's adverts
			// stop: 3×1s + (256-100)/256 s.
			name: "master-crash", failures: clusterdiff.Failures{Nodes: []string{"lb1"}}, golden: true,
			group: "web", after: "lb2", window: 3*time.Second + skew(100, time.Second), outage: true,
			check: func(t *testing.T, s *clusterdiff.Simulation) {
				// The service follows the VIP to lb2.
				if sv := service(t, s, "web-http"); sv.Holder != "lb2" || sv.QuorumLost {
					t.Errorf("web-http %+v, want served from lb2", sv)
				}
			},
		},
		{
			// haproxy (weight 0) faults api on lb2: lb2 resigns with
			// priority 0 after 2 failures 1s apart; lb1 takes over
			// after its skew at a 100ms interval.
			name: "fault", failures: clusterdiff.Failures{Checks: []string{"haproxy@lb2"}},
			group: "api", after: "lb1", window: 2*time.Second + skew(100, 100*time.Millisecond), outage: true,
		},
		{
			// nginx (weight -150) drops lb1 to 50, below lb2's 100:
			// seen after 3 failures 2s apart, then lb2 ignores lb1's
			// adverts for a master-down interval; lb1 holds the VIP
			// until then.
			name: "priority-drop", failures: clusterdiff.Failures{Checks: []string{"nginx@lb1"}}, golden: true,
			group: "web", after: "lb2", window: 6*time.Second + 3*time.Second + skew(100, time.Second), outage: false,
		},
		{
			// VRRPv2 counts the skew in seconds, whatever the interval.
			name: "vrrp2", edits: []string{"    nodes: [lb1, lb2]\n", "    nodes: [lb1, lb2]\n    version: 2\n    advertInterval: 2s\n"},
			failures: clusterdiff.Failures{Nodes: []string{"lb1"}},
			group:    "web", after: "lb2", window: 6*time.Second + skew(100, time.Second), outage: true,
		},
		{
			name: "vrrp3-slow", edits: []string{"    nodes: [lb1, lb2]\n", "    nodes: [lb1, lb2]\n    advertInterval: 2s\n"},
			failures: clusterdiff.Failures{Nodes: []string{"lb1"}},
			group:    "web", after: "lb2", window: 6*time.Second + skew(100, 2*time.Second), outage: true,
		},
		{
			// Failing everywhere, nginx drops lb1 to 50 and lb2 to 1:
			// lb1 still wins.
			name: "everywhere", failures: clusterdiff.Failures{Checks: []string{"nginx"}},
			group: "web", after: "lb1",
		},
		{
			// Without preempt lb2 does not take over from a master
			// whose priority dropped below its own.
			name: "preempt-off", edits: []string{"    nodes: [lb1, lb2]\n", "    nodes: [lb1, lb2]\n    preempt: false\n"},
			failures: clusterdiff.Failures{Checks: []string{"nginx@lb1"}},
			group:    "web", after: "lb1",
		},
		{
			name: "quorum", failures: clusterdiff.Failures{RealServers: []string{"198.51.100.21"}}, golden: true,
			group: "api", after: "lb2", degraded: true,
			check: func(t *testing.T, s *clusterdiff.Simulation) {
				sv := service(t, s, "api-https")
				if !sv.QuorumLost || sv.Weight != 1 || sv.Serving != "sorry server 198.51.100.99:443" {
					t.Errorf("api-https %+v, want quorum lost and the sorry server serving", sv)
				}
				if sv := service(t, s, "web-http"); sv.QuorumLost || len(sv.Failed) != 0 {
					t.Errorf("web-http %+v, untouched by a server of api-https", sv)
				}
			},
		},
		{
			name: "port-only", failures: clusterdiff.Failures{RealServers: []string{"198.51.100.12:8080"}},
			group: "web", after: "lb1",
			check: func(t *testing.T, s *clusterdiff.Simulation) {
				if sv := service(t, s, "web-http"); sv.Weight != 2 || sv.Total != 5 || sv.QuorumLost {
					t.Errorf("web-http %+v, want weight 2 of 5, quorum kept", sv)
				}
			},
		},
		{
			name: "everyone-down", failures: clusterdiff.Failures{Nodes: []string{"lb1", "lb2"}}, golden: true,
			group: "web", after: "", outage: true, degraded: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := clusterdiff.Simulate(variant(t, tt.edits...), tt.failures)
			if err != nil {
				t.Fatal(err)
			}
			g := group(t, s, tt.group)
			if g.After != tt.after || g.Window != tt.window || g.Outage != tt.outage {
				t.Errorf("group %s: after %q within %s (outage %v), want %q within %s (outage %v); %s",
					tt.group, g.After, g.Window, g.Outage, tt.after, tt.window, tt.outage, g.Timers)
			}
			if s.Degraded() != tt.degraded {
				t.Errorf("degraded %v, want %v", s.Degraded(), tt.degraded)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			if !tt.golden {
				return
			}
			var text, js bytes.Buffer
			if err := render.SimulateText(&text, s); err != nil {
				t.Fatal(err)
			}
			golden(t, "simulate-"+tt.name+".txt", text.Bytes())
			if err := render.JSON(&js, s); err != nil {
				t.Fatal(err)
			}
			golden(t, "simulate-"+tt.name+".json", js.Bytes())
		})
	}
}

func group(t *testing.T, s *clusterdiff.Simulation, name string) clusterdiff.GroupOutcome {
	t.Helper()
	for _, g := range s.Groups {
		if g.Group == name {
			return g
		}
	}
	t.Fatalf("no group %s in %+v", name, s.Groups)
	return clusterdiff.GroupOutcome{}
}

func service(t *testing.T, s *clusterdiff.Simulation, name string) clusterdiff.ServiceOutcome {
	t.Helper()
	for _, sv := range s.Services {
		if sv.Service == name {
			return sv
		}
	}
	t.Fatalf("no service %s in %+v", name, s.Services)
	return clusterdiff.ServiceOutcome{}
}

func TestSimulateRefusesUnknown(t *testing.T) {
	for _, tt := range []struct {
		failures clusterdiff.Failures
		want     string
	}{
		{clusterdiff.Failures{Nodes: []string{"lb9"}}, `failed node "lb9" is not in the cluster description (nodes: lb1, lb2, lb3)`},
		{clusterdiff.Failures{Checks: []string{"ngnix"}}, `no tracked check "ngnix"`},
		{clusterdiff.Failures{Checks: []string{"nginx@lb3"}}, "no VIP group tracks it on that node"},
		{clusterdiff.Failures{Checks: []string{"nginx@lb9"}}, `node "lb9" is not in the cluster description`},
		{clusterdiff.Failures{RealServers: []string{"198.51.100.77"}}, "is in no service"},
		{clusterdiff.Failures{RealServers: []string{"web1"}}, "want ADDRESS or ADDRESS:PORT"},
	} {
		_, err := clusterdiff.Simulate(variant(t), tt.failures)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.failures, err, tt.want)
		}
	}
}

// A service without a VIP group runs on every node: it is served while
// one of them is up, and by nobody once all have failed.
func TestSimulateGroupless(t *testing.T) {
	edit := []string{"services:\n", "services:\n  marked:\n    fwmark: 7\n    realServers:\n      - address: 198.51.100.41\n"}
	for _, tt := range []struct {
		nodes    []string
		holder   string
		degraded bool
	}{
		{nil, "every node", false},
		{[]string{"lb1"}, "lb2, lb3", false},
		{[]string{"lb1", "lb2", "lb3"}, "", true},
	} {
		s, err := clusterdiff.Simulate(variant(t, edit...), clusterdiff.Failures{Nodes: tt.nodes})
		if err != nil {
			t.Fatal(err)
		}
		if sv := service(t, s, "marked"); sv.Holder != tt.holder || s.Degraded() != tt.degraded {
			t.Errorf("failed %v: holder %q, degraded %v; want %q, %v", tt.nodes, sv.Holder, s.Degraded(), tt.holder, tt.degraded)
		}
	}
}

// bgp groups: who still announces, the routers' detection as the
// window, degraded only when nobody announces.
func TestSimulateBGP(t *testing.T) {
	const bfd = "holdTime: 6s\n  bfd: {interval: 100ms, multiplier: 4}"
	tests := []struct {
		name       string
		edits      []string
		failures   clusterdiff.Failures
		golden     bool
		group      string
		announcers []string
		after      string
		window     time.Duration
		outage     bool
		degraded   bool
	}{
		{name: "healthy", group: "www", announcers: []string{"lb1", "lb2"}},
		{name: "healthy-med", group: "db", announcers: []string{"lb1", "lb2"}, after: "lb1"},
		// No BFD: the routers keep lb1's routes for the hold time.
		{name: "bgp-crash", failures: clusterdiff.Failures{Nodes: []string{"lb1"}}, golden: true,
			group: "www", announcers: []string{"lb2"}, window: 6 * time.Second, outage: true},
		{name: "bgp-bfd", edits: []string{"holdTime: 6s", bfd}, failures: clusterdiff.Failures{Nodes: []string{"lb1"}},
			group: "www", announcers: []string{"lb2"}, window: 400 * time.Millisecond, outage: true},
		// The preferred director crashes: lb2 carries db once the routers notice.
		{name: "bgp-med-crash", edits: []string{"holdTime: 6s", bfd}, failures: clusterdiff.Failures{Nodes: []string{"lb1"}}, golden: true,
			group: "db", announcers: []string{"lb2"}, after: "lb2", window: 400 * time.Millisecond, outage: true},
		// The backup crashing moves nothing.
		{name: "bgp-med-backup", failures: clusterdiff.Failures{Nodes: []string{"lb2"}},
			group: "db", announcers: []string{"lb1"}, after: "lb1"},
		// lb1 withdraws itself once the check's failures are seen: 2 × 1s.
		{name: "bgp-check", failures: clusterdiff.Failures{Checks: []string{"in-service@lb1"}},
			group: "www", announcers: []string{"lb2"}, window: 2 * time.Second},
		{name: "bgp-nobody", failures: clusterdiff.Failures{Nodes: []string{"lb1", "lb2"}}, golden: true,
			group: "www", window: 6 * time.Second, outage: true, degraded: true},
		// Below quorum every member withdraws.
		{name: "bgp-quorum", failures: clusterdiff.Failures{RealServers: []string{"198.51.100.11"}},
			group: "www", outage: true, degraded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := clusterdiff.Simulate(variantOf(t, "bgp.yaml", tt.edits...), tt.failures)
			if err != nil {
				t.Fatal(err)
			}
			g := group(t, s, tt.group)
			if strings.Join(g.Announcers, ",") != strings.Join(tt.announcers, ",") || g.After != tt.after || g.Window != tt.window || g.Outage != tt.outage {
				t.Errorf("group %s: announced by %v, after %q within %s (outage %v); want %v, %q within %s (outage %v); %s",
					tt.group, g.Announcers, g.After, g.Window, g.Outage, tt.announcers, tt.after, tt.window, tt.outage, g.Timers)
			}
			if s.Degraded() != tt.degraded {
				t.Errorf("degraded %v, want %v", s.Degraded(), tt.degraded)
			}
			if !tt.golden {
				return
			}
			var text, js bytes.Buffer
			if err := render.SimulateText(&text, s); err != nil {
				t.Fatal(err)
			}
			golden(t, "simulate-"+tt.name+".txt", text.Bytes())
			if err := render.JSON(&js, s); err != nil {
				t.Fatal(err)
			}
			golden(t, "simulate-"+tt.name+".json", js.Bytes())
		})
	}
}

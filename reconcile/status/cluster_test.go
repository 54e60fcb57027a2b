package status_test

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// clusterReport is lb1's report with its peers: roles per group given as
// "group=state" for lb1, lb2, lb3; lb3 unreachable when down.
func clusterReport(lb1, lb2, lb3 []status.PeerGroup, lb3Down bool) *status.Report {
	r := &status.Report{Node: "lb1", Healthy: true, Applied: &status.Revision{ID: "0123456789abcdef0123456789abcdef01234567"},
		Rollout: &status.Rollout{Settled: true}}
	for _, g := range lb1 {
		r.VIPGroups = append(r.VIPGroups, status.VIPGroup{Name: g.Name, State: g.State, Candidates: []string{"lb1", "lb2", "lb3"}})
	}
	r.Rollout.Peers = []status.Peer{
		{Node: "lb2", Reachable: true, Applied: "0123456789abcdef0123456789abcdef01234567", Settled: true, Healthy: true, Groups: lb2},
		{Node: "lb3", Reachable: !lb3Down, Applied: "fedcba9876543210fedcba9876543210fedcba98", Groups: lb3},
	}
	if lb3Down {
		r.Rollout.Peers[1].Error = "dial tcp 192.0.2.3:9111: connect: connection refused"
	}
	return r
}

func groups(kv ...string) []status.PeerGroup {
	var out []status.PeerGroup
	for i := 0; i < len(kv); i += 2 {
		out = append(out, status.PeerGroup{Name: kv[i], State: kv[i+1]})
	}
	return out
}

// The invariant "exactly one master per VIP group" as status --cluster
// checks it from what the nodes report.
func TestClusterVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      *status.Report
		ok     bool
		verdic map[string]string
	}{
		{"one master each", clusterReport(groups("web", "master", "db", "backup"), groups("web", "backup", "db", "master"), groups("web", "backup", "db", "backup"), false),
			true, map[string]string{"web": "ok", "db": "ok"}},
		{"split brain", clusterReport(groups("web", "master"), groups("web", "master"), groups("web", "backup"), false),
			false, map[string]string{"web": "split brain"}},
		{"no master", clusterReport(groups("web", "backup"), groups("web", "fault"), groups("web", "backup"), false),
			false, map[string]string{"web": "no master"}},
		{"a node unreachable", clusterReport(groups("web", "master"), groups("web", "backup"), groups("web", "backup"), true),
			false, map[string]string{"web": "unverified"}},
		{"an unreachable node that holds no group", func() *status.Report {
			r := clusterReport(groups("web", "master"), groups("web", "backup"), nil, true)
			r.VIPGroups[0].Candidates = []string{"lb1", "lb2"}
			return r
		}(), true, map[string]string{"web": "ok"}},
		{"split brain beside an unreachable node", clusterReport(groups("web", "master"), groups("web", "master"), groups("web", "backup"), true),
			false, map[string]string{"web": "split brain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := status.Cluster(tc.r)
			if v.OK != tc.ok {
				t.Errorf("ok %v, want %v", v.OK, tc.ok)
			}
			for _, g := range v.Groups {
				if g.Verdict != tc.verdic[g.Name] {
					t.Errorf("group %s: verdict %q, want %q (masters %v)", g.Name, g.Verdict, tc.verdic[g.Name], g.Masters)
				}
			}
			if len(v.Groups) != len(tc.verdic) {
				t.Errorf("groups %+v", v.Groups)
			}
		})
	}
}

func TestClusterText(t *testing.T) {
	var b bytes.Buffer
	r := clusterReport(groups("web", "master", "db", "backup"), groups("web", "master", "db", "master"), groups("web", "backup", "db", "backup"), true)
	if err := status.WriteCluster(&b, status.Cluster(r)); err != nil {
		t.Fatal(err)
	}
	golden(t, "cluster.txt", b.Bytes())
}

// The rollout's lines in the status header.
func TestRolloutText(t *testing.T) {
	r := clusterReport(groups("web", "master"), groups("web", "backup"), groups("web", "backup"), true)
	r.Rollout.Settled = false
	r.Rollout.Watching, r.Rollout.WatchUntil = "89abcdef0123456789abcdef0123456789abcdef", now.Add(20*time.Second)
	r.Rollout.Unconfirmed = []string{"lb3"}
	r.Rollout.Bad = []status.BadRevision{{ID: "fedcba9876543210fedcba9876543210fedcba98", By: "lb2", At: now.Add(-time.Minute),
		Reason: "real server http 198.51.100.3:80 fails its check: connect: connection refused"}}
	var b bytes.Buffer
	if err := status.WriteText(&b, r, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "rollout.txt", b.Bytes())
}

// clusterBGPReport is clusterReport with bgp group www: lb1 announces when
// self, the peers as their reports say.
func clusterBGPReport(self bool, lb2, lb3 string, lb3Down bool) *status.Report {
	r := clusterReport(groups("web", "master"), groups("web", "backup", "www", lb2), groups("web", "backup", "www", lb3), lb3Down)
	g := status.BGPGroup{Name: "www", VIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.80/32")}, Withdrawn: "check in-service failing"}
	if self {
		g.Announced, g.Withdrawn = g.VIPs, ""
	}
	r.BGP = &status.BGP{ASN: 64600, Groups: []status.BGPGroup{g}}
	return r
}

// A bgp group has no master: it is ok while any member announces.
func TestClusterBGPVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		r          *status.Report
		ok         bool
		verdict    string
		announcers []string
	}{
		{"all announce", clusterBGPReport(true, status.StateAnnouncing, status.StateAnnouncing, false), true, "ok", []string{"lb1", "lb2", "lb3"}},
		{"one announces", clusterBGPReport(false, status.StateWithdrawn, status.StateAnnouncing, false), true, "ok", []string{"lb3"}},
		// web is unverified without lb3, www is ok.
		{"an unreachable node beside an announcer", clusterBGPReport(true, status.StateWithdrawn, status.StateWithdrawn, true), false, "ok", []string{"lb1"}},
		{"none announcing", clusterBGPReport(false, status.StateWithdrawn, status.StateWithdrawn, false), false, "none announcing", nil},
		{"none announcing, one unreachable", clusterBGPReport(false, status.StateWithdrawn, status.StateAnnouncing, true), false, "unverified", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := status.Cluster(tc.r)
			i := slices.IndexFunc(v.Groups, func(g status.ClusterGroup) bool { return g.Name == "www" })
			if i < 0 {
				t.Fatalf("no group www in %+v", v.Groups)
			}
			g := v.Groups[i]
			if v.OK != tc.ok || g.Verdict != tc.verdict || !slices.Equal(g.Announcers, tc.announcers) || len(g.Masters) != 0 {
				t.Errorf("ok %v, www %+v; want ok %v, verdict %q, announcers %v", v.OK, g, tc.ok, tc.verdict, tc.announcers)
			}
		})
	}
	var b bytes.Buffer
	if err := status.WriteCluster(&b, status.Cluster(clusterBGPReport(false, status.StateWithdrawn, status.StateAnnouncing, false))); err != nil {
		t.Fatal(err)
	}
	golden(t, "cluster-bgp.txt", b.Bytes())
}

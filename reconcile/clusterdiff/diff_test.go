package clusterdiff_test

import (
	"bytes"
	"encoding/json"
	"errors"
	goldenfile "github.com/hakeeper/hakeeper/test/golden"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/clusterdiff"
	"github.com/hakeeper/hakeeper/render"
)

// variant is testdata/base.yaml with each old string replaced by the new
// one that follows it; an edit that matches nothing fails the test, so a
// fixture change cannot silently turn a case into "no change".
func variant(t *testing.T, edits ...string) *model.Cluster {
	t.Helper()
	return variantOf(t, "base.yaml", edits...)
}

// variantOf is variant of another fixture.
func variantOf(t *testing.T, fixture string, edits ...string) *model.Cluster {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("edit %q matches nothing in %s", edits[i], fixture)
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	c, err := model.Load([]model.File{{Name: "cluster.yaml", Data: []byte(text)}})
	if err != nil {
		t.Fatalf("variant does not load:\n%v", err)
	}
	return c
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

const webPair = "    vips: [192.0.2.10/24]\n    nodes: [lb1, lb2]"

func TestCompare(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		// all: also JSON and Markdown goldens.
		all   bool
		check func(t *testing.T, d *clusterdiff.Diff)
	}{
		{name: "unchanged", check: func(t *testing.T, d *clusterdiff.Diff) {
			if d.HasChanges() || len(d.VIPMoves)+len(d.Services)+len(d.Recreated) != 0 {
				t.Errorf("identical revisions show changes: %+v", d)
			}
			if u := d.Unchanged(); !slices.Equal(u, []string{"lb1", "lb2", "lb3"}) {
				t.Errorf("unchanged nodes %v, want all three", u)
			}
		}},
		{name: "priority", all: true, edits: []string{webPair, "    vips: [192.0.2.10/24]\n    nodes: [lb2, lb1]"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				wantMoves(t, d, clusterdiff.VIPMove{Group: "web", VIPs: []string{"192.0.2.10/24"}, From: "lb1", To: "lb2",
					Reason: clusterdiff.ReasonPriority, Detail: "lb2 200 > lb1 100 (was lb2 100, lb1 200)"})
				wantUnchanged(t, d, "lb3")
			}},
		{name: "realserver-added", all: true, edits: []string{"      - address: 198.51.100.13\n        port: 8080\n",
			"      - address: 198.51.100.13\n        port: 8080\n      - address: 198.51.100.14\n        port: 8080\n"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				wantMoves(t, d)
				wantUnchanged(t, d, "lb3")
				if len(d.Services) != 1 || d.Services[0].Action != "update" || !slices.Equal(d.Services[0].Added, []string{"198.51.100.14:8080"}) {
					t.Fatalf("services %+v, want web-http with 198.51.100.14:8080 added", d.Services)
				}
				// Weights 1, 3, 1 → 1, 3, 1, 1: the new server takes 1/6.
				if got := d.Services[0].WeightMoved; got != 16.7 {
					t.Errorf("weight moved %v%%, want 16.7%%", got)
				}
			}},
		{name: "drain", edits: []string{"        weight: 3", "        weight: 0"}, check: func(t *testing.T, d *clusterdiff.Diff) {
			wantMoves(t, d)
			if len(d.Services) != 1 || !slices.Equal(d.Services[0].Drained, []string{"198.51.100.12:8080"}) {
				t.Fatalf("services %+v, want 198.51.100.12:8080 drained", d.Services)
			}
			// Shares 1/5, 3/5, 1/5 → 1/2, 0, 1/2: 60% of new connections move.
			if got := d.Services[0].WeightMoved; got != 60 {
				t.Errorf("weight moved %v%%, want 60%%", got)
			}
		}},
		{name: "recreate", all: true, edits: []string{"port: 443", "port: 8443"}, check: func(t *testing.T, d *clusterdiff.Diff) {
			wantMoves(t, d)
			if len(d.Services) != 1 || d.Services[0].Action != "recreate" || len(d.Services[0].Identity) != 1 ||
				d.Services[0].Identity[0].Name != "port" || d.Services[0].Identity[0].New != "8443" {
				t.Fatalf("services %+v, want api-https recreated for its port", d.Services)
			}
			if s := d.Summary(); s.ServicesRecreated != 1 {
				t.Errorf("summary counts %d services recreated, want 1", s.ServicesRecreated)
			}
		}},
		{name: "scheduler", edits: []string{"scheduler: wrr", "scheduler: rr"}, check: func(t *testing.T, d *clusterdiff.Diff) {
			// Changed in place: no recreation. rr ignores the weights
			// 1, 3, 1, so the shares become a third each.
			if len(d.Services) != 1 || d.Services[0].Action != "update" || d.Services[0].WeightMoved != 26.7 {
				t.Fatalf("services %+v, want web-http updated in place, 26.7%% moved", d.Services)
			}
		}},
		{name: "vrid", all: true, edits: []string{"vrid: 51", "vrid: 53"}, check: func(t *testing.T, d *clusterdiff.Diff) {
			wantMoves(t, d)
			// lb1 is the new master at 200: 3×1s + (256-200)/256 s.
			if len(d.Recreated) != 1 || d.Recreated[0].Group != "web" || d.Recreated[0].Outage != 3*time.Second+218750*time.Microsecond {
				t.Fatalf("recreated %+v, want web with a 3.21875s outage", d.Recreated)
			}
		}},
		{name: "membership", edits: []string{webPair, "    vips: [192.0.2.10/24]\n    nodes: [lb2, lb3]"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				wantMoves(t, d, clusterdiff.VIPMove{Group: "web", VIPs: []string{"192.0.2.10/24"}, From: "lb1", To: "lb2",
					Reason: clusterdiff.ReasonMembership, Detail: "lb1 is no longer a member of the group"})
			}},
		{name: "spread", edits: []string{"nodes: [lb1, lb3]", "nodes: [lb1, lb2, lb3]"}, check: func(t *testing.T, d *clusterdiff.Diff) {
			wantMoves(t, d, clusterdiff.VIPMove{Group: "mail-a", VIPs: []string{"192.0.2.31/24"}, From: "lb3", To: "lb2",
				Reason: clusterdiff.ReasonSpread, Detail: "set mail: nodes lb1, lb3 -> lb1, lb2, lb3"})
		}},
		{name: "preempt-off", edits: []string{"    nodes: [lb2, lb1]\n    advertInterval: 100ms", "    nodes: [lb1, lb2]\n    advertInterval: 100ms\n    preempt: false"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				// lb1 now wins an election, but lb2 keeps running the
				// same virtual router and does not give the VIP up.
				wantMoves(t, d)
				if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "preempt is off: lb2 keeps the VIPs") {
					t.Errorf("notes %q, want one saying lb2 keeps the VIPs", d.Notes)
				}
			}},
		{name: "group", edits: []string{"    vips: [192.0.2.20/24]", "    vips: [192.0.2.20/24, 192.0.2.21/24]",
			"    vips: [192.0.2.10/24]", "    vips: [192.0.2.11/24]", "    vips: [192.0.2.31/24]", "    vips: [192.0.2.31/24, 192.0.2.10/24]",
			"    vip: 192.0.2.10", "    vip: 192.0.2.31"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				wantMoves(t, d,
					clusterdiff.VIPMove{Group: "api", VIPs: []string{"192.0.2.21/24"}, To: "lb2", Reason: clusterdiff.ReasonAdded, Detail: "new VIP of group api"},
					clusterdiff.VIPMove{Group: "mail-a", VIPs: []string{"192.0.2.10/24"}, From: "lb1", To: "lb3", Reason: clusterdiff.ReasonGroup, Detail: "moved from group web to group mail-a"},
					clusterdiff.VIPMove{Group: "web", VIPs: []string{"192.0.2.11/24"}, To: "lb1", Reason: clusterdiff.ReasonAdded, Detail: "new VIP of group web"})
			}},
		{name: "sync-group", all: true, edits: []string{"spread:\n", "syncGroups:\n  edge:\n    groups: [web, api]\nspread:\n"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "sync group edge: its members elect different masters (api on lb2, web on lb1)") {
					t.Errorf("notes %q, want the sync group's conflicting masters", d.Notes)
				}
			}},
		{name: "node-removed", edits: []string{"  lb3:\n    address: 192.0.2.3\n    interface: eth0\n", "", "nodes: [lb1, lb3]", "nodes: [lb1]"},
			check: func(t *testing.T, d *clusterdiff.Diff) {
				wantMoves(t, d, clusterdiff.VIPMove{Group: "mail-a", VIPs: []string{"192.0.2.31/24"}, From: "lb3", To: "lb1",
					Reason: clusterdiff.ReasonSpread, Detail: "set mail: nodes lb1, lb3 -> lb1"})
				if n := d.Nodes[2]; n.Node != "lb3" || n.Status != clusterdiff.NodeRemoved || n.Plan.Summary().Destroy != 2 {
					t.Errorf("lb3: %s with %+v, want removed destroying its 2 instances", n.Status, n.Plan.Summary())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := clusterdiff.Compare(variant(t), variant(t, tt.edits...), "old", "new")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
			var text bytes.Buffer
			if err := render.DiffText(&text, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".txt", text.Bytes())
			if !tt.all {
				return
			}
			var js, md bytes.Buffer
			if err := render.JSON(&js, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".json", js.Bytes())
			if err := render.DiffMarkdown(&md, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".md", md.Bytes())
		})
	}
}

func wantMoves(t *testing.T, d *clusterdiff.Diff, want ...clusterdiff.VIPMove) {
	t.Helper()
	got, _ := json.Marshal(d.VIPMoves)
	exp, _ := json.Marshal(want)
	if len(want) == 0 {
		exp = []byte("null")
	}
	if !bytes.Equal(got, exp) {
		t.Errorf("VIP moves:\n got %s\nwant %s", got, exp)
	}
}

func wantUnchanged(t *testing.T, d *clusterdiff.Diff, nodes ...string) {
	t.Helper()
	if got := d.Unchanged(); !slices.Equal(got, nodes) {
		t.Errorf("nodes with no change %v, want %v", got, nodes)
	}
}

// An invalid revision is refused with Validate's errors, nothing compared.
func TestCompareInvalid(t *testing.T) {
	bad := variant(t)
	bad.VIPGroups["web"].VRID = 300
	_, err := clusterdiff.Compare(variant(t), bad, "old", "new")
	var list model.ErrorList
	if !errors.As(err, &list) || !strings.Contains(err.Error(), "vipGroups.web.vrid") {
		t.Fatalf("err %v, want a problem naming vipGroups.web.vrid", err)
	}
}

// A group whose VIPs interleave with another group's in address order
// still gets one line per holder change.
func TestCompareInterleaved(t *testing.T) {
	two := []string{webPair, "    vips: [192.0.2.10/24, 192.0.2.25/24]\n    nodes: [lb1, lb2]"}
	d, err := clusterdiff.Compare(variant(t, two...), variant(t, webPair, "    vips: [192.0.2.10/24, 192.0.2.25/24]\n    nodes: [lb2, lb1]",
		"    vips: [192.0.2.20/24]\n    nodes: [lb2, lb1]", "    vips: [192.0.2.20/24]\n    nodes: [lb1, lb2]"), "old", "new")
	if err != nil {
		t.Fatal(err)
	}
	wantMoves(t, d,
		clusterdiff.VIPMove{Group: "api", VIPs: []string{"192.0.2.20/24"}, From: "lb2", To: "lb1",
			Reason: clusterdiff.ReasonPriority, Detail: "lb1 200 > lb2 100 (was lb1 100, lb2 200)"},
		clusterdiff.VIPMove{Group: "web", VIPs: []string{"192.0.2.10/24", "192.0.2.25/24"}, From: "lb1", To: "lb2",
			Reason: clusterdiff.ReasonPriority, Detail: "lb2 200 > lb1 100 (was lb2 100, lb1 200)"})
}

// bgp groups have no master: diff says who starts and stops announcing,
// how much ECMP rehashes, and who the routers prefer, never a VIP move.
func TestCompareBGP(t *testing.T) {
	const www = "    nodes: [lb1, lb2]\n    trackChecks:"
	const db = "    vips: [203.0.113.90/32]\n    nodes: [lb1, lb2]"
	tests := []struct {
		name     string
		old, new []string
		all      bool
		want     clusterdiff.BGPChange
		// unchanged: nodes whose plan is empty (a bgp speaker already
		// running is not created anew).
		unchanged []string
		detail    string
	}{
		{name: "bgp-vip-added", new: []string{"vips: [203.0.113.80/32, 203.0.113.81/32]", "vips: [203.0.113.80/32, 203.0.113.81/32, 203.0.113.82/32]"},
			want: clusterdiff.BGPChange{Group: "www", OldMode: "bgp", NewMode: "bgp", OldPreference: "ecmp", NewPreference: "ecmp",
				Announcers: []string{"lb1", "lb2"}}, detail: "VIPs added 203.0.113.82/32"},
		{name: "bgp-member-added", all: true, new: []string{www, "    nodes: [lb1, lb2, lb3]\n    trackChecks:"},
			want: clusterdiff.BGPChange{Group: "www", OldMode: "bgp", NewMode: "bgp", OldPreference: "ecmp", NewPreference: "ecmp",
				Announcers: []string{"lb1", "lb2", "lb3"}, Started: []string{"lb3"}, Rehashed: 33.3}, unchanged: []string{"lb1", "lb2"}},
		{name: "bgp-member-removed", new: []string{www, "    nodes: [lb1]\n    trackChecks:", "quorum: 2", "quorum: 1"},
			want: clusterdiff.BGPChange{Group: "www", OldMode: "bgp", NewMode: "bgp", OldPreference: "ecmp", NewPreference: "ecmp",
				Announcers: []string{"lb1"}, Stopped: []string{"lb2"}, Rehashed: 50}},
		{name: "bgp-preference", all: true, new: []string{db, "    vips: [203.0.113.90/32]\n    nodes: [lb2, lb1]"},
			want: clusterdiff.BGPChange{Group: "db", OldMode: "bgp", NewMode: "bgp", OldPreference: "med", NewPreference: "med",
				Announcers: []string{"lb2", "lb1"}, From: "lb1", To: "lb2"}},
		{name: "bgp-mode-to-bgp", all: true, new: []string{"    vrid: 51\n", "    mode: bgp\n"},
			want: clusterdiff.BGPChange{Group: "web", OldMode: "vrrp", NewMode: "bgp", NewPreference: "ecmp",
				Announcers: []string{"lb1", "lb2"}, Started: []string{"lb1", "lb2"}, From: "lb1"}},
		{name: "bgp-mode-to-vrrp", old: []string{"    vrid: 51\n", "    mode: bgp\n"},
			want: clusterdiff.BGPChange{Group: "web", OldMode: "bgp", NewMode: "vrrp", OldPreference: "ecmp",
				Announcers: []string{}, Stopped: []string{"lb1", "lb2"}, To: "lb1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := clusterdiff.Compare(variantOf(t, "bgp.yaml", tt.old...), variantOf(t, "bgp.yaml", tt.new...), "old", "new")
			if err != nil {
				t.Fatal(err)
			}
			wantMoves(t, d)
			if tt.unchanged != nil {
				wantUnchanged(t, d, tt.unchanged...)
			}
			if len(d.BGP) != 1 {
				t.Fatalf("BGP changes %+v, want one of group %s", d.BGP, tt.want.Group)
			}
			got := d.BGP[0]
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail %q, want %q in it", got.Detail, tt.detail)
			}
			got.VIPs, got.Detail = nil, ""
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if !bytes.Equal(g, w) {
				t.Errorf("BGP change:\n got %s\nwant %s", g, w)
			}
			var text bytes.Buffer
			if err := render.DiffText(&text, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".txt", text.Bytes())
			if !tt.all {
				return
			}
			var js, md bytes.Buffer
			if err := render.JSON(&js, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".json", js.Bytes())
			if err := render.DiffMarkdown(&md, d); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".md", md.Bytes())
		})
	}
}

package model_test

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

func ptr[T any](v T) *T { return &v }

func dur(s string) *model.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return ptr(model.Duration(d))
}

// nodes returns n nodes a..: node i has 192.0.2.(i+1), 2001:db8::(i+1), eth0.
func nodes(n int) map[string]*model.Node {
	out := map[string]*model.Node{}
	for i := range n {
		out[nodeName(i)] = &model.Node{
			Address:   fmt.Sprintf("192.0.2.%d", i+1),
			Address6:  fmt.Sprintf("2001:db8::%d", i+1),
			Interface: "eth0",
		}
	}
	return out
}

func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

func nodeNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, nodeName(i))
	}
	return out
}

func desired(t *testing.T, c *model.Cluster, node string) *model.NodeState {
	t.Helper()
	st, err := model.Desired(c, node)
	if err != nil {
		t.Fatalf("Desired(%s): %v", node, err)
	}
	return st
}

func instance(t *testing.T, st *model.NodeState, name string) model.Instance {
	t.Helper()
	for _, i := range st.Instances {
		if i.Name == name {
			return i
		}
	}
	t.Fatalf("node %s has no instance %q (has %v)", st.Node, name, instanceNames(st))
	return model.Instance{}
}

func instanceNames(st *model.NodeState) []string {
	var out []string
	for _, i := range st.Instances {
		out = append(out, i.Name)
	}
	return out
}

func service(t *testing.T, st *model.NodeState, name string) model.VirtualService {
	t.Helper()
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("node %s has no service %q", st.Node, name)
	return model.VirtualService{}
}

func TestPreferencePriorities(t *testing.T) {
	for _, tc := range []struct {
		desc string
		n    int
		want []int
	}{
		{desc: "one node", n: 1, want: []int{200}},
		{desc: "two nodes", n: 2, want: []int{200, 100}},
		{desc: "three nodes", n: 3, want: []int{200, 150, 100}},
		{desc: "four nodes round to nearest", n: 4, want: []int{200, 167, 133, 100}},
		{desc: "five nodes", n: 5, want: []int{200, 175, 150, 125, 100}},
		{desc: "six nodes", n: 6, want: []int{200, 180, 160, 140, 120, 100}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := model.PreferencePriorities(tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("PreferencePriorities(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	for n := 1; n <= 260; n++ {
		got := model.PreferencePriorities(n)
		if len(got) != n || got[0] != 200 {
			t.Fatalf("n=%d: %v does not start at 200", n, got)
		}
		for i := 1; i < n; i++ {
			if got[i] < 1 {
				t.Fatalf("n=%d: priority %d below 1", n, got[i])
			}
			if got[i] >= got[i-1] && got[i] != 1 {
				t.Fatalf("n=%d: priorities not strictly decreasing at %d: %v", n, i, got)
			}
		}
		switch {
		case n >= 2 && n <= 101 && got[n-1] != 100:
			t.Fatalf("n=%d: last priority %d, want 100", n, got[n-1])
		case n > 101 && got[1] != 199:
			t.Fatalf("n=%d: step is %d, want 1", n, 200-got[1])
		}
	}
}

func TestDesiredPrioritiesFromNodes(t *testing.T) {
	for n := 1; n <= 6; n++ {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			// Preference order is the reverse of name order, so the
			// result cannot come from sorting names.
			order := nodeNames(n)
			slices.Reverse(order)
			c := &model.Cluster{
				Nodes:     nodes(n),
				VIPGroups: map[string]*model.VIPGroup{"web": {VRID: 7, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}, Nodes: order}},
			}
			want := model.PreferencePriorities(n)
			var wantPref []model.NodePriority
			for i, name := range order {
				wantPref = append(wantPref, model.NodePriority{Node: name, Priority: uint8(want[i])})
			}
			for i, name := range order {
				inst := instance(t, desired(t, c, name), "web")
				if int(inst.Priority) != want[i] {
					t.Errorf("%s: priority %d, want %d", name, inst.Priority, want[i])
				}
				if inst.InitialState != model.StateBackup {
					t.Errorf("%s: initial state %s, want backup", name, inst.InitialState)
				}
				if !reflect.DeepEqual(inst.Preference, wantPref) {
					t.Errorf("%s: preference %v, want %v", name, inst.Preference, wantPref)
				}
			}
		})
	}
}

func TestDesiredPriorities(t *testing.T) {
	vips := []model.VIP{{Address: "198.51.100.10/24"}}
	// Priority 255 is for the owner of an address: n1's own is a VIP.
	ownerVIPs := []model.VIP{{Address: "198.51.100.10/24"}, {Address: "192.0.2.1/24"}}
	for _, tc := range []struct {
		desc      string
		group     model.VIPGroup
		more      map[string]*model.VIPGroup                // groups besides g
		overrides map[string]map[string]*model.NodeOverride // node -> group -> override
		want      []model.NodePriority
		wantState map[string]model.VRRPState
		wantIface map[string]string
	}{
		{
			// An election between equal priorities goes to the higher
			// primary address (RFC 5798 6.4.3): n3's 192.0.2.3.
			desc:  "explicit priorities as given, ties as VRRP breaks them",
			group: model.VIPGroup{VRID: 1, VIPs: vips, Priorities: map[string]int{"n3": 150, "n1": 90, "n2": 150}},
			want:  []model.NodePriority{{"n3", 150}, {"n2", 150}, {"n1", 90}},
		},
		{
			desc:      "255 owner starts master, others backup",
			group:     model.VIPGroup{VRID: 1, VIPs: ownerVIPs, Priorities: map[string]int{"n1": 255, "n2": 100}},
			want:      []model.NodePriority{{"n1", 255}, {"n2", 100}},
			wantState: map[string]model.VRRPState{"n1": model.StateMaster, "n2": model.StateBackup},
		},
		{
			desc:      "override replaces computed priority",
			group:     model.VIPGroup{VRID: 1, VIPs: vips, Nodes: []string{"n1", "n2", "n3"}},
			overrides: map[string]map[string]*model.NodeOverride{"n3": {"g": {Priority: ptr(250)}}},
			want:      []model.NodePriority{{"n3", 250}, {"n1", 200}, {"n2", 150}},
		},
		{
			desc:      "override replaces explicit priority and may make an owner",
			group:     model.VIPGroup{VRID: 1, VIPs: ownerVIPs, Priorities: map[string]int{"n1": 100, "n2": 110}},
			overrides: map[string]map[string]*model.NodeOverride{"n1": {"g": {Priority: ptr(255)}}},
			want:      []model.NodePriority{{"n1", 255}, {"n2", 110}},
			wantState: map[string]model.VRRPState{"n1": model.StateMaster, "n2": model.StateBackup},
		},
		{
			desc:      "interface: node, then group, then override",
			group:     model.VIPGroup{VRID: 1, VIPs: vips, Nodes: []string{"n1", "n2", "n3"}, Interface: "bond0"},
			more:      map[string]*model.VIPGroup{"other": {VRID: 2, VIPs: []model.VIP{{Address: "198.51.100.20/24"}}, Nodes: []string{"n3"}}},
			overrides: map[string]map[string]*model.NodeOverride{"n2": {"g": {Interface: "eth9"}}, "n3": {"other": {Interface: "eth7"}}},
			want:      []model.NodePriority{{"n1", 200}, {"n2", 150}, {"n3", 100}},
			wantIface: map[string]string{"n1": "bond0", "n2": "eth9", "n3": "bond0"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := &model.Cluster{Nodes: nodes(3), VIPGroups: map[string]*model.VIPGroup{"g": &tc.group}}
			maps.Copy(c.VIPGroups, tc.more)
			for n, o := range tc.overrides {
				c.Nodes[n].Overrides = o
			}
			for _, np := range tc.want {
				inst := instance(t, desired(t, c, np.Node), "g")
				if inst.Priority != np.Priority {
					t.Errorf("%s: priority %d, want %d", np.Node, inst.Priority, np.Priority)
				}
				if !reflect.DeepEqual(inst.Preference, tc.want) {
					t.Errorf("%s: preference %v, want %v", np.Node, inst.Preference, tc.want)
				}
				if want, ok := tc.wantState[np.Node]; ok && inst.InitialState != want {
					t.Errorf("%s: initial state %s, want %s", np.Node, inst.InitialState, want)
				}
				if want, ok := tc.wantIface[np.Node]; ok && (inst.Interface != want || inst.VIPs[0].Device != want) {
					t.Errorf("%s: interface %s, VIP device %s, want %s", np.Node, inst.Interface, inst.VIPs[0].Device, want)
				}
			}
			for n := range c.Nodes {
				if !slices.ContainsFunc(tc.want, func(np model.NodePriority) bool { return np.Node == n }) {
					if st := desired(t, c, n); len(st.Instances) != 0 {
						t.Errorf("non-member %s has instances %v", n, instanceNames(st))
					}
				}
			}
		})
	}
}

func TestDesiredVRRPDefaults(t *testing.T) {
	base := func() *model.VIPGroup {
		return &model.VIPGroup{VRID: 1, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}, Nodes: []string{"n1", "n2"}}
	}
	builtin := model.Instance{
		Version: model.DefaultVRRPVersion, AdvertInterval: model.DefaultAdvertInterval,
		Preempt: model.DefaultPreempt, PreemptDelay: model.DefaultPreemptDelay, Unicast: model.DefaultUnicast,
		GARP:   model.GARPSpec{Repeat: model.DefaultGARPRepeat, Interval: model.DefaultGARPInterval, RefreshDelay: model.DefaultGARPRefreshDelay},
		Notify: model.NotifySpec{Timeout: model.DefaultNotifyTimeout},
	}
	for _, tc := range []struct {
		desc     string
		defaults *model.Defaults
		group    func(g *model.VIPGroup)
		want     func(i *model.Instance)
	}{
		{desc: "built-in defaults", want: func(*model.Instance) {}},
		{
			desc: "cluster defaults",
			defaults: &model.Defaults{ScriptUser: "hk", VRRP: &model.VRRPSettings{
				Version: ptr(2), AdvertInterval: dur("3s"), Preempt: ptr(false), PreemptDelay: dur("30s"), Unicast: ptr(true),
				GARP: &model.GARPSettings{Repeat: ptr(2), Interval: dur("10ms"), RefreshDelay: dur("0s")},
			}},
			want: func(i *model.Instance) {
				i.Version, i.AdvertInterval, i.Preempt, i.PreemptDelay, i.Unicast = 2, 3*time.Second, false, 30*time.Second, true
				i.GARP = model.GARPSpec{Repeat: 2, Interval: 10 * time.Millisecond}
				i.Notify.User = "hk"
			},
		},
		{
			desc: "group beats cluster defaults, field by field",
			defaults: &model.Defaults{VRRP: &model.VRRPSettings{
				Version: ptr(2), AdvertInterval: dur("3s"), Preempt: ptr(false),
				GARP: &model.GARPSettings{Repeat: ptr(2), RefreshDelay: dur("1s")},
			}},
			group: func(g *model.VIPGroup) {
				g.Version, g.AdvertInterval, g.Preempt = ptr(3), dur("100ms"), ptr(true)
				g.GARP = &model.GARPSettings{Repeat: ptr(7)}
			},
			want: func(i *model.Instance) {
				i.AdvertInterval = 100 * time.Millisecond
				i.GARP = model.GARPSpec{Repeat: 7, RefreshDelay: time.Second}
			},
		},
		{
			desc:  "explicit false beats built-in true",
			group: func(g *model.VIPGroup) { g.Preempt = ptr(false) },
			want:  func(i *model.Instance) { i.Preempt = false },
		},
		{
			desc:     "notify: timeout default, user from scriptUser unless set",
			defaults: &model.Defaults{ScriptUser: "hk"},
			group: func(g *model.VIPGroup) {
				g.Notify = &model.Notify{Master: model.Command{Shell: "logger master"}, Fault: model.Command{Argv: []string{"/bin/true", "x"}}, User: "ops"}
			},
			want: func(i *model.Instance) {
				i.Notify = model.NotifySpec{Master: model.Command{Shell: "logger master"}, Fault: model.Command{Argv: []string{"/bin/true", "x"}}, Timeout: model.DefaultNotifyTimeout, User: "ops"}
			},
		},
		{
			desc:  "notify timeout set",
			group: func(g *model.VIPGroup) { g.Notify = &model.Notify{Stop: model.Command{Shell: "x"}, Timeout: dur("2s")} },
			want: func(i *model.Instance) {
				i.Notify = model.NotifySpec{Stop: model.Command{Shell: "x"}, Timeout: 2 * time.Second}
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			g := base()
			if tc.group != nil {
				tc.group(g)
			}
			c := &model.Cluster{Nodes: nodes(2), Defaults: tc.defaults, VIPGroups: map[string]*model.VIPGroup{"g": g}}
			got := instance(t, desired(t, c, "n1"), "g")
			want := builtin
			tc.want(&want)
			type timers struct {
				Version        int
				AdvertInterval time.Duration
				Preempt        bool
				PreemptDelay   time.Duration
				Unicast        bool
				GARP           model.GARPSpec
				Notify         model.NotifySpec
			}
			g1 := timers{got.Version, got.AdvertInterval, got.Preempt, got.PreemptDelay, got.Unicast, got.GARP, got.Notify}
			w1 := timers{want.Version, want.AdvertInterval, want.Preempt, want.PreemptDelay, want.Unicast, want.GARP, want.Notify}
			if !reflect.DeepEqual(g1, w1) {
				t.Errorf("got  %+v\nwant %+v", g1, w1)
			}
		})
	}
}

func TestDesiredUnicastAndVIPs(t *testing.T) {
	c := &model.Cluster{
		Nodes: nodes(4),
		VIPGroups: map[string]*model.VIPGroup{
			"v4": {VRID: 1, Nodes: []string{"n3", "n1", "n2"}, VRRPSettings: model.VRRPSettings{Unicast: ptr(true)},
				VIPs: []model.VIP{{Address: "198.51.100.20"}, {Address: "198.51.100.10/24", Label: "eth0:web"}, {Address: "203.0.113.5/32", Device: "eth1"}}},
			"v6": {VRID: 1, Nodes: []string{"n1", "n3", "n2"}, VRRPSettings: model.VRRPSettings{Unicast: ptr(true)},
				VIPs: []model.VIP{{Address: "2001:db8:1::10/64"}, {Address: "2001:db8:1::5"}}},
			"m6": {VRID: 2, Nodes: []string{"n1", "n2"}, VIPs: []model.VIP{{Address: "2001:db8:2::1/64"}}},
			"m4": {VRID: 3, Nodes: []string{"n1", "n2"}, VIPs: []model.VIP{{Address: "198.51.100.30/24"}}},
		},
	}
	st := desired(t, c, "n1")
	if st.Address != netip.MustParseAddr("192.0.2.1") || st.Address6 != netip.MustParseAddr("2001:db8::1") || st.Interface != "eth0" {
		t.Errorf("node identity: %v %v %v", st.Address, st.Address6, st.Interface)
	}
	v4 := instance(t, st, "v4")
	if v4.Family != model.IPv4 || v4.SourceAddress != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("v4: family %s source %v", v4.Family, v4.SourceAddress)
	}
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}; !slices.Equal(v4.Peers, want) {
		t.Errorf("v4 peers %v, want %v (other members only, sorted)", v4.Peers, want)
	}
	wantVIPs := []model.VIPSpec{
		{Prefix: netip.MustParsePrefix("198.51.100.10/24"), Device: "eth0", Label: "eth0:web"},
		{Prefix: netip.MustParsePrefix("198.51.100.20/32"), Device: "eth0"},
		{Prefix: netip.MustParsePrefix("203.0.113.5/32"), Device: "eth1"},
	}
	if !reflect.DeepEqual(v4.VIPs, wantVIPs) {
		t.Errorf("v4 VIPs\n got %v\nwant %v", v4.VIPs, wantVIPs)
	}
	v6 := instance(t, st, "v6")
	if v6.Family != model.IPv6 || v6.SourceAddress != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("v6: family %s source %v", v6.Family, v6.SourceAddress)
	}
	if want := []netip.Addr{netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::3")}; !slices.Equal(v6.Peers, want) {
		t.Errorf("v6 peers %v, want %v", v6.Peers, want)
	}
	if want := []model.VIPSpec{
		{Prefix: netip.MustParsePrefix("2001:db8:1::5/128"), Device: "eth0"},
		{Prefix: netip.MustParsePrefix("2001:db8:1::10/64"), Device: "eth0"},
	}; !reflect.DeepEqual(v6.VIPs, want) {
		t.Errorf("v6 VIPs %v, want %v", v6.VIPs, want)
	}
	m6 := instance(t, st, "m6")
	if m6.Unicast || m6.SourceAddress.IsValid() || m6.Peers != nil {
		t.Errorf("IPv6 multicast: unicast %v source %v peers %v; want link-local (zero source), no peers", m6.Unicast, m6.SourceAddress, m6.Peers)
	}
	m4 := instance(t, st, "m4")
	if m4.Unicast || m4.SourceAddress != st.Address || m4.Peers != nil {
		t.Errorf("IPv4 multicast: unicast %v source %v peers %v", m4.Unicast, m4.SourceAddress, m4.Peers)
	}
	if got := instanceNames(desired(t, c, "n4")); len(got) != 0 {
		t.Errorf("n4 is in no group but has instances %v", got)
	}
	if got := instanceNames(st); !slices.IsSorted(got) {
		t.Errorf("instances not sorted: %v", got)
	}

	// A v6 unicast peer without address6 cannot be resolved.
	c.Nodes["n2"].Address6 = ""
	_, err := model.Desired(c, "n1")
	errorAt(t, err, "vipGroups.v6.unicast", `needs an address6 on node "n2"`)
}

func TestDesiredTracking(t *testing.T) {
	c := &model.Cluster{
		Nodes:    nodes(2),
		Defaults: &model.Defaults{ScriptUser: "hk"},
		Checks: map[string]*model.TrackCheck{
			"nginx":  {Command: model.Command{Shell: "pidof nginx"}, Weight: -50},
			"disk":   {Command: model.Command{Argv: []string{"/usr/bin/test", "-w", "/srv"}}, Interval: dur("10s"), Timeout: dur("1s"), Rise: ptr(3), Fall: ptr(2), User: "root"},
			"unused": {Command: model.Command{Shell: "true"}},
		},
		VIPGroups: map[string]*model.VIPGroup{
			"g": {VRID: 1, Nodes: []string{"n1", "n2"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}},
				TrackChecks:     []model.TrackCheckRef{{Check: "nginx"}, {Check: "disk", Weight: ptr(-20)}},
				TrackInterfaces: []model.TrackInterface{{Interface: "eth1", Weight: -10}, {Interface: "bond0"}},
				Auth:            &model.Auth{Type: "pass", SecretEnv: "VRRP_PASS"},
				VRRPSettings:    model.VRRPSettings{Version: ptr(2)},
			},
			"h": {VRID: 2, Nodes: []string{"n1"}, VIPs: []model.VIP{{Address: "198.51.100.11/24"}}},
		},
		SyncGroups: map[string]*model.SyncGroup{"both": {Groups: []string{"h", "g"}, Notify: &model.Notify{Master: model.Command{Shell: "m"}}}},
	}
	st := desired(t, c, "n1")
	g := instance(t, st, "g")
	if want := []model.TrackedCheck{{Check: "disk", Weight: -20}, {Check: "nginx", Weight: -50}}; !reflect.DeepEqual(g.TrackChecks, want) {
		t.Errorf("track checks %v, want %v", g.TrackChecks, want)
	}
	if want := []model.TrackInterface{{Interface: "bond0"}, {Interface: "eth1", Weight: -10}}; !reflect.DeepEqual(g.TrackInterfaces, want) {
		t.Errorf("track interfaces %v, want %v", g.TrackInterfaces, want)
	}
	if g.Auth == nil || *g.Auth != (model.Auth{Type: "pass", SecretEnv: "VRRP_PASS"}) || g.Auth == c.VIPGroups["g"].Auth {
		t.Errorf("auth %+v: want a copy of the group's", g.Auth)
	}
	wantChecks := []model.TrackCheckSpec{
		{Name: "disk", Command: model.Command{Argv: []string{"/usr/bin/test", "-w", "/srv"}}, Interval: 10 * time.Second, Timeout: time.Second, Rise: 3, Fall: 2, User: "root"},
		{Name: "nginx", Command: model.Command{Shell: "pidof nginx"}, Interval: model.DefaultTrackInterval, Timeout: model.DefaultTrackInterval, Rise: 1, Fall: 1, Weight: -50, User: "hk"},
	}
	if !reflect.DeepEqual(st.Checks, wantChecks) {
		t.Errorf("checks\n got %+v\nwant %+v", st.Checks, wantChecks)
	}
	wantSync := []model.SyncGroupSpec{{Name: "both", Instances: []string{"g", "h"}, Notify: model.NotifySpec{Master: model.Command{Shell: "m"}, Timeout: model.DefaultNotifyTimeout, User: "hk"}}}
	if !reflect.DeepEqual(st.SyncGroups, wantSync) {
		t.Errorf("sync groups %+v, want %+v", st.SyncGroups, wantSync)
	}
	if g.SyncGroup != "both" || instance(t, st, "h").SyncGroup != "both" {
		t.Errorf("instances do not name their sync group")
	}
	// n2 runs only g: its sync group lists only g.
	st2 := desired(t, c, "n2")
	if len(st2.SyncGroups) != 1 || !slices.Equal(st2.SyncGroups[0].Instances, []string{"g"}) {
		t.Errorf("n2 sync groups %+v, want both with [g]", st2.SyncGroups)
	}

	c.VIPGroups["h"].TrackChecks = []model.TrackCheckRef{{Check: "missing"}}
	_, err := model.Desired(c, "n1")
	errorAt(t, err, "vipGroups.h.trackChecks[0].check", `"missing"`)
}

func TestDesiredErrors(t *testing.T) {
	good := func() *model.Cluster {
		return &model.Cluster{
			Nodes:     nodes(2),
			VIPGroups: map[string]*model.VIPGroup{"g": {VRID: 1, Nodes: []string{"n1", "n2"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}}},
			Services:  map[string]*model.Service{"web": {VIP: "198.51.100.10", Port: 80, RealServers: []model.RealServer{{Address: "203.0.113.1"}}}},
		}
	}
	if _, err := model.Desired(good(), "n1"); err != nil {
		t.Fatalf("good cluster: %v", err)
	}
	for _, tc := range []struct {
		desc     string
		node     string
		mutate   func(c *model.Cluster)
		wantPath string
		wantMsg  string
	}{
		{desc: "unknown node", node: "nope", mutate: func(*model.Cluster) {}, wantMsg: `node "nope" is not in the cluster description (nodes: n1, n2)`},
		{desc: "group names unknown node", mutate: func(c *model.Cluster) { c.VIPGroups["g"].Nodes = []string{"n1", "ghost"} }, wantPath: "vipGroups.g.nodes[1]", wantMsg: "ghost"},
		{desc: "group without nodes", mutate: func(c *model.Cluster) { c.VIPGroups["g"].Nodes = nil }, wantPath: "vipGroups.g", wantMsg: "no nodes"},
		{desc: "bad VIP", mutate: func(c *model.Cluster) { c.VIPGroups["g"].VIPs[0].Address = "198.51.100.300" }, wantPath: "vipGroups.g.vips[0]"},
		{desc: "mixed families", mutate: func(c *model.Cluster) {
			c.VIPGroups["g"].VIPs = append(c.VIPGroups["g"].VIPs, model.VIP{Address: "2001:db8::1"})
		}, wantPath: "vipGroups.g.vips[1]", wantMsg: "a VRRP instance carries one address family"},
		{desc: "service VIP of no group", mutate: func(c *model.Cluster) { c.Services["web"].VIP = "198.51.100.99" }, wantPath: "services.web.vip"},
		{desc: "fwmark service of unknown group", mutate: func(c *model.Cluster) { c.Services["fw"] = &model.Service{FWMark: 1, Group: "x"} }, wantPath: "services.fw.group"},
		{desc: "bad real server", mutate: func(c *model.Cluster) { c.Services["web"].RealServers[0].Address = "rs1" }, wantPath: "services.web.realServers[0].address"},
		{desc: "spread set with unknown group", mutate: func(c *model.Cluster) {
			c.Spread = map[string]*model.SpreadSet{"s": {Groups: []string{"zz"}, Nodes: []string{"n1"}}}
		}, wantPath: "spread.s.groups[0]"},
		{desc: "bad node address", mutate: func(c *model.Cluster) { c.Nodes["n1"].Address = "2001:db8::1" }, wantPath: "nodes.n1.address"},
		{desc: "noncontiguous netmask", mutate: func(c *model.Cluster) {
			c.Services["web"].Persistence = &model.Persistence{Timeout: model.Duration(time.Minute), Netmask: "255.0.255.0"}
		}, wantPath: "services.web.persistence.netmask", wantMsg: "not an IPv4 netmask"},
		{desc: "override for a non-member", mutate: func(c *model.Cluster) {
			c.Nodes = nodes(3)
			c.Nodes["n3"].Overrides = map[string]*model.NodeOverride{"g": {Priority: ptr(250)}}
		}, wantPath: "nodes.n3.overrides.g", wantMsg: `node "n3" is not a member of group "g"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			c.Sources = model.Sources{"vipGroups.g": {File: "cluster.yaml", Line: 7}}
			node := cmpOr(tc.node, "n1")
			st, err := model.Desired(c, node)
			if err == nil {
				t.Fatalf("no error; state %+v", st)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if tc.wantPath != "" {
				me := errorAt(t, err, tc.wantPath, tc.wantMsg)
				if strings.HasPrefix(tc.wantPath, "vipGroups.g") && !strings.HasPrefix(me.Error(), "cluster.yaml:7: ") {
					t.Errorf("error %q does not name the file and line", me)
				}
			}
		})
	}
}

// errorAt returns the error in err's list at path whose message contains
// msg, and fails the test when there is none.
func errorAt(t *testing.T, err error, path, msg string) *model.Error {
	t.Helper()
	var list model.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			if e.Path == path && strings.Contains(e.Msg, msg) {
				return e
			}
		}
	}
	t.Fatalf("error %v: want one at %s containing %q", err, path, msg)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

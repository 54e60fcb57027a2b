package model_test

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

func serviceNames(st *model.NodeState) []string {
	var out []string
	for _, s := range st.Services {
		out = append(out, s.Name)
	}
	return out
}

func TestDesiredServiceMembership(t *testing.T) {
	rs := []model.RealServer{{Address: "203.0.113.1"}}
	c := &model.Cluster{
		Nodes: nodes(3),
		VIPGroups: map[string]*model.VIPGroup{
			"front": {VRID: 1, Nodes: []string{"n1", "n2"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}, {Address: "198.51.100.11/24"}}},
			"back":  {VRID: 2, Priorities: map[string]int{"n2": 100, "n3": 90}, VIPs: []model.VIP{{Address: "198.51.100.20"}}},
			"v6":    {VRID: 3, Nodes: []string{"n3"}, VIPs: []model.VIP{{Address: "2001:db8::10/64"}}},
		},
		Services: map[string]*model.Service{
			"web":       {VIP: "198.51.100.10", Port: 80, RealServers: rs},
			"web-tls":   {VIP: "198.51.100.11", Port: 443, RealServers: rs},
			"db":        {VIP: "198.51.100.20", Port: 5432, RealServers: rs},
			"v6":        {VIP: "2001:db8::10", Port: 80, RealServers: []model.RealServer{{Address: "2001:db8:5::1"}}},
			"fw-all":    {FWMark: 10, RealServers: rs},
			"fw-back":   {FWMark: 11, Group: "back", RealServers: rs},
			"fw-v6-all": {FWMark: 12, Family: model.IPv6, RealServers: []model.RealServer{{Address: "2001:db8:5::1"}}},
		},
	}
	for _, tc := range []struct {
		desc string
		node string
		want []string
	}{
		{desc: "front only, plus group-less fwmark", node: "n1", want: []string{"fw-all", "fw-v6-all", "web", "web-tls"}},
		{desc: "front and back", node: "n2", want: []string{"db", "fw-all", "fw-back", "fw-v6-all", "web", "web-tls"}},
		{desc: "back and v6", node: "n3", want: []string{"db", "fw-all", "fw-back", "fw-v6-all", "v6"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := serviceNames(desired(t, c, tc.node)); !slices.Equal(got, tc.want) {
				t.Errorf("services %v, want %v", got, tc.want)
			}
		})
	}
	st := desired(t, c, "n2")
	if s := service(t, st, "web"); s.Group != "front" || s.Family != model.IPv4 || s.Address != netip.MustParseAddr("198.51.100.10") || s.Port != 80 || s.Protocol != model.TCP || s.FWMark != 0 {
		t.Errorf("web: %+v", s)
	}
	if s := service(t, st, "fw-back"); s.Group != "back" || s.Family != model.IPv4 || s.Address.IsValid() || s.Port != 0 || s.Protocol != "" || s.FWMark != 11 {
		t.Errorf("fw-back: %+v", s)
	}
	if s := service(t, st, "fw-all"); s.Group != "" || s.RealServers[0].Port != 0 {
		t.Errorf("fw-all: %+v", s)
	}
	if s := service(t, desired(t, c, "n3"), "fw-v6-all"); s.Family != model.IPv6 || s.PersistenceMask != 0 {
		t.Errorf("fw-v6-all: %+v", s)
	}
}

func TestDesiredServiceSettings(t *testing.T) {
	group := map[string]*model.VIPGroup{
		"g":  {VRID: 1, Nodes: []string{"n1"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}},
		"g6": {VRID: 2, Nodes: []string{"n1"}, VIPs: []model.VIP{{Address: "2001:db8::10/64"}}},
	}
	for _, tc := range []struct {
		desc     string
		defaults *model.Defaults
		svc      model.Service
		want     func(vs *model.VirtualService)
	}{
		{
			desc: "built-in defaults",
			svc:  model.Service{VIP: "198.51.100.10", Port: 80, RealServers: []model.RealServer{{Address: "203.0.113.1"}}},
			want: func(*model.VirtualService) {},
		},
		{
			desc: "cluster service defaults",
			defaults: &model.Defaults{Service: &model.ServiceDefaults{Scheduler: "rr", Forwarding: model.DR, Protocol: model.UDP, Drain: ptr(true),
				Persistence: &model.Persistence{Timeout: model.Duration(5 * time.Minute)}}},
			svc: model.Service{VIP: "198.51.100.10", Port: 80, RealServers: []model.RealServer{{Address: "203.0.113.1"}}},
			want: func(vs *model.VirtualService) {
				vs.Scheduler, vs.Forwarding, vs.Protocol, vs.Drain = "rr", model.DR, model.UDP, true
				vs.Persistence, vs.PersistenceMask = 5*time.Minute, 32
			},
		},
		{
			desc: "service beats cluster defaults",
			defaults: &model.Defaults{Service: &model.ServiceDefaults{Scheduler: "rr", Forwarding: model.DR, Protocol: model.UDP, Drain: ptr(true),
				Persistence: &model.Persistence{Timeout: model.Duration(5 * time.Minute)}}},
			svc: model.Service{VIP: "198.51.100.10", Port: 80, Scheduler: "sh", SchedulerFlags: []string{"sh-port", "sh-fallback"}, Forwarding: model.Tunnel, Protocol: model.SCTP,
				Drain: ptr(false), StartDown: ptr(true), Quorum: ptr(3),
				Persistence: &model.Persistence{Timeout: model.Duration(900 * time.Second), Netmask: "255.255.255.0"},
				RealServers: []model.RealServer{{Address: "203.0.113.1"}}},
			want: func(vs *model.VirtualService) {
				vs.Scheduler, vs.SchedulerFlags, vs.Forwarding, vs.Protocol = "sh", []string{"sh-fallback", "sh-port"}, model.Tunnel, model.SCTP
				vs.Drain, vs.StartDown, vs.Quorum = false, true, 3
				vs.Persistence, vs.PersistenceMask = 900*time.Second, 24
			},
		},
		{
			desc: "IPv6 persistence: prefix length, default 128",
			svc: model.Service{VIP: "2001:db8::10", Port: 80, Persistence: &model.Persistence{Timeout: model.Duration(time.Minute)},
				RealServers: []model.RealServer{{Address: "2001:db8:5::1"}}},
			want: func(vs *model.VirtualService) {
				vs.Group, vs.Family, vs.Address = "g6", model.IPv6, netip.MustParseAddr("2001:db8::10")
				vs.Persistence, vs.PersistenceMask = time.Minute, 128
				vs.RealServers = []model.RealServerSpec{{Address: netip.MustParseAddr("2001:db8:5::1"), Port: 80, Weight: 1, Check: defaultCheck(80)}}
			},
		},
		{
			desc: "IPv6 persistence netmask as prefix length",
			svc: model.Service{VIP: "2001:db8::10", Port: 80, Persistence: &model.Persistence{Timeout: model.Duration(time.Minute), Netmask: "64"},
				RealServers: []model.RealServer{{Address: "2001:db8:5::1"}}},
			want: func(vs *model.VirtualService) {
				vs.Group, vs.Family, vs.Address = "g6", model.IPv6, netip.MustParseAddr("2001:db8::10")
				vs.Persistence, vs.PersistenceMask = time.Minute, 64
				vs.RealServers = []model.RealServerSpec{{Address: netip.MustParseAddr("2001:db8:5::1"), Port: 80, Weight: 1, Check: defaultCheck(80)}}
			},
		},
		{
			desc: "real servers sorted by address then port; weight, port and thresholds",
			svc: model.Service{VIP: "198.51.100.10", Port: 80,
				SorryServer: &model.RealServer{Address: "203.0.113.99"},
				RealServers: []model.RealServer{
					{Address: "203.0.113.10", Port: 8080},
					{Address: "203.0.113.2", Weight: ptr(0), UpperThreshold: 100, LowerThreshold: 50},
					{Address: "203.0.113.10", Port: 8079, Weight: ptr(5)},
				}},
			want: func(vs *model.VirtualService) {
				vs.RealServers = []model.RealServerSpec{
					{Address: netip.MustParseAddr("203.0.113.2"), Port: 80, Weight: 0, UpperThreshold: 100, LowerThreshold: 50, Check: defaultCheck(80)},
					{Address: netip.MustParseAddr("203.0.113.10"), Port: 8079, Weight: 5, Check: defaultCheck(8079)},
					{Address: netip.MustParseAddr("203.0.113.10"), Port: 8080, Weight: 1, Check: defaultCheck(8080)},
				}
				vs.SorryServer = &model.RealServerSpec{Address: netip.MustParseAddr("203.0.113.99"), Port: 80, Weight: 1}
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			svc := tc.svc
			c := &model.Cluster{Nodes: nodes(1), Defaults: tc.defaults, VIPGroups: group, Services: map[string]*model.Service{"s": &svc}}
			got := service(t, desired(t, c, "n1"), "s")
			want := model.VirtualService{
				Name: "s", Group: "g", Family: model.IPv4, Address: netip.MustParseAddr("198.51.100.10"), Port: 80, Protocol: model.TCP,
				Scheduler: model.DefaultScheduler, Forwarding: model.DefaultForwarding, Quorum: model.DefaultQuorum, Drain: model.DefaultDrain,
				RealServers: []model.RealServerSpec{{Address: netip.MustParseAddr("203.0.113.1"), Port: 80, Weight: model.DefaultWeight, Check: defaultCheck(80)}},
			}
			tc.want(&want)
			if want.Protocol == "" {
				want.Protocol = model.TCP
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// defaultCheck is the TCP connect check a server gets when nothing is configured.
func defaultCheck(port uint16) *model.CheckSpec {
	return &model.CheckSpec{Type: "tcp", Interval: model.DefaultCheckInterval, Timeout: model.DefaultCheckTimeout,
		Retries: model.DefaultCheckRetries, Rise: model.DefaultCheckRise, Fall: model.DefaultCheckFall, Port: port}
}

func TestDesiredCheckResolution(t *testing.T) {
	httpCheck := &model.Check{Interval: dur("2s"), HTTP: &model.HTTPCheck{Host: "www.example"}}
	tcpCheck := &model.Check{Port: 9000, Rise: ptr(3), TCP: &model.TCPCheck{}}
	execCheck := &model.Check{Exec: &model.ExecCheck{Command: model.Command{Argv: []string{"/usr/local/bin/probe"}}}}
	for _, tc := range []struct {
		desc     string
		defaults *model.Check
		service  *model.Check
		server   *model.Check
		want     *model.CheckSpec
	}{
		{desc: "nothing configured: TCP connect on the server port", want: defaultCheck(8080)},
		{
			desc: "defaults.check", defaults: httpCheck,
			want: &model.CheckSpec{Type: "http", Interval: 2 * time.Second, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 1, Fall: 1, Port: 8080,
				HTTP: &model.HTTPCheck{Path: "/", Status: model.StatusCodes{model.StatusCode(200)}, Host: "www.example"}},
		},
		{
			desc: "service check overrides defaults type and port, inherits timing", defaults: httpCheck, service: tcpCheck,
			want: &model.CheckSpec{Type: "tcp", Interval: 2 * time.Second, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 3, Fall: 1, Port: 9000},
		},
		{
			desc: "server check overrides service check; status ranges sorted and merged", defaults: httpCheck, service: tcpCheck,
			server: &model.Check{Timeout: dur("1s"), HTTPS: &model.HTTPCheck{Path: "/ok", Status: model.StatusCodes{{204, 204}, {200, 203}, {301, 302}}}},
			want: &model.CheckSpec{Type: "https", Interval: 2 * time.Second, Timeout: time.Second, Retries: 1, Rise: 3, Fall: 1, Port: 8080,
				HTTP: &model.HTTPCheck{Path: "/ok", Status: model.StatusCodes{{200, 204}, {301, 302}}}},
		},
		{
			desc: "a service check with timings only keeps the defaults' type", defaults: httpCheck,
			service: &model.Check{Fall: ptr(4)},
			want: &model.CheckSpec{Type: "http", Interval: 2 * time.Second, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 1, Fall: 4, Port: 8080,
				HTTP: &model.HTTPCheck{Path: "/", Status: model.StatusCodes{model.StatusCode(200)}, Host: "www.example"}},
		},
		{
			desc: "a server check with timings only keeps the service's type and port", service: tcpCheck,
			server: &model.Check{Interval: dur("1s")},
			want:   &model.CheckSpec{Type: "tcp", Interval: time.Second, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 3, Fall: 1, Port: 9000},
		},
		{desc: "none on the server disables a service check", service: tcpCheck, server: &model.Check{None: &model.NoCheck{}}, want: nil},
		{desc: "none in defaults disables default checking", defaults: &model.Check{None: &model.NoCheck{}}, want: nil},
		{
			desc: "exec check runs as scriptUser", service: execCheck,
			want: &model.CheckSpec{Type: "exec", Interval: model.DefaultCheckInterval, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 1, Fall: 1, Port: 8080,
				Exec: &model.ExecCheck{Command: model.Command{Argv: []string{"/usr/local/bin/probe"}}, User: "hk"}, User: "hk"},
		},
		{
			desc: "exec check with own user", service: &model.Check{Exec: &model.ExecCheck{Command: model.Command{Shell: "probe"}, User: "nobody"}},
			want: &model.CheckSpec{Type: "exec", Interval: model.DefaultCheckInterval, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 1, Fall: 1, Port: 8080,
				Exec: &model.ExecCheck{Command: model.Command{Shell: "probe"}, User: "nobody"}, User: "nobody"},
		},
		{
			desc: "dns default type", service: &model.Check{Retries: ptr(2), DNS: &model.DNSCheck{Name: "example.org"}},
			want: &model.CheckSpec{Type: "dns", Interval: model.DefaultCheckInterval, Timeout: model.DefaultCheckTimeout, Retries: 2, Rise: 1, Fall: 1, Port: 8080,
				DNS: &model.DNSCheck{Name: "example.org", Type: "A"}},
		},
		{
			desc: "udp", service: &model.Check{Fall: ptr(4), UDP: &model.UDPCheck{Payload: "ping", Expect: "pong"}},
			want: &model.CheckSpec{Type: "udp", Interval: model.DefaultCheckInterval, Timeout: model.DefaultCheckTimeout, Retries: 1, Rise: 1, Fall: 4, Port: 8080,
				UDP: &model.UDPCheck{Payload: "ping", Expect: "pong"}},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := &model.Cluster{
				Nodes:     nodes(1),
				Defaults:  &model.Defaults{Check: tc.defaults, ScriptUser: "hk"},
				VIPGroups: map[string]*model.VIPGroup{"g": {VRID: 1, Nodes: []string{"n1"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}}},
				Services: map[string]*model.Service{"s": {VIP: "198.51.100.10", Port: 80, Check: tc.service,
					RealServers: []model.RealServer{{Address: "203.0.113.1", Port: 8080, Check: tc.server}, {Address: "203.0.113.2"}}}},
			}
			got := service(t, desired(t, c, "n1"), "s").RealServers
			if !reflect.DeepEqual(got[0].Check, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got[0].Check, tc.want)
			}
			// The second server has no own check: it gets the service's
			// (or default) check on its own port.
			other := got[1].Check
			if tc.server == nil && tc.want != nil {
				if other == nil || other.Type != tc.want.Type || (tc.want.Port == 8080 && other.Port != 80) {
					t.Errorf("second server check %+v", other)
				}
				// Servers may share one spec, but only with equal checks.
				if other == got[0].Check && other.Port != got[0].Check.Port {
					t.Errorf("servers share one CheckSpec; each needs its own port")
				}
			}
		})
	}
}

// TestDesiredCheckPortPerServer: servers of one service inherit one
// check without a port, each on its own port, whatever the order of
// ports (equal checks may share a spec, different ones must not).
func TestDesiredCheckPortPerServer(t *testing.T) {
	c := &model.Cluster{
		Nodes:     nodes(1),
		VIPGroups: map[string]*model.VIPGroup{"g": {VRID: 1, Nodes: []string{"n1"}, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}}},
		Services: map[string]*model.Service{"s": {VIP: "198.51.100.10", Port: 80, Check: &model.Check{HTTP: &model.HTTPCheck{Path: "/"}},
			RealServers: []model.RealServer{
				{Address: "203.0.113.1"}, {Address: "203.0.113.2", Port: 8080}, {Address: "203.0.113.3", Port: 8080},
				{Address: "203.0.113.4"}, {Address: "203.0.113.5", Port: 81, Check: &model.Check{TCP: &model.TCPCheck{}}}, {Address: "203.0.113.6"},
			}}},
	}
	got := service(t, desired(t, c, "n1"), "s").RealServers
	wantPort := []uint16{80, 8080, 8080, 80, 81, 80}
	wantType := []string{"http", "http", "http", "http", "tcp", "http"}
	for i, rs := range got {
		if rs.Check == nil || rs.Check.Port != wantPort[i] || rs.Check.Type != wantType[i] {
			t.Errorf("server %s check %+v, want %s on port %d", rs.Address, rs.Check, wantType[i], wantPort[i])
		}
	}
}

func TestDesiredDeterministic(t *testing.T) {
	build := func(reverse bool) *model.Cluster {
		c := &model.Cluster{Nodes: map[string]*model.Node{}, VIPGroups: map[string]*model.VIPGroup{}, Services: map[string]*model.Service{},
			Spread: map[string]*model.SpreadSet{}}
		idx := make([]int, 30)
		for i := range idx {
			idx[i] = i
		}
		if reverse {
			slices.Reverse(idx)
		}
		all := nodes(5)
		names := nodeNames(5)
		if reverse {
			slices.Reverse(names)
		}
		for _, n := range names {
			c.Nodes[n] = all[n]
		}
		var groups []string
		for _, i := range idx {
			g := "g" + string(rune('a'+i%26)) + string(rune('0'+i/26))
			groups = append(groups, g)
			c.VIPGroups[g] = &model.VIPGroup{VRID: i + 1, VIPs: []model.VIP{{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()}}}
			c.Services[g] = &model.Service{VIP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String(), Port: 80,
				RealServers: []model.RealServer{{Address: "203.0.113.2"}, {Address: "203.0.113.1"}}}
		}
		c.Spread["all"] = &model.SpreadSet{Groups: groups, Nodes: names}
		return c
	}
	for _, n := range nodeNames(5) {
		a := desired(t, build(false), n)
		b := desired(t, build(true), n)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: state depends on the order the description was built in", n)
		}
		for range 5 {
			if c := desired(t, build(false), n); !reflect.DeepEqual(a, c) {
				t.Fatalf("%s: two runs differ", n)
			}
		}
	}
}

// With several broken services Desired names the first in name order,
// whatever order the map holds them in.
func TestDesiredFirstBrokenServiceInNameOrder(t *testing.T) {
	c := modeltest.GenerateCluster(50, 2, 3)
	for _, name := range []string{"svc-00040", "svc-00015", "svc-00049", "svc-00016"} {
		c.Services[name].VIP = "not-an-address"
	}
	_, err := model.Desired(c, "node-1")
	if err == nil || !strings.Contains(err.Error(), "services.svc-00015.vip") {
		t.Errorf("error %v, want the first broken service in name order (svc-00015)", err)
	}
}
